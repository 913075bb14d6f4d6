#include "train/version.h"

namespace ttt {

const char kVersion[] = TTT_VERSION;
const char kGitCommit[] = TTT_GIT_COMMIT;
const char kSourceDir[] = TTT_BUILD_SOURCE_DIR;

}  // namespace ttt
