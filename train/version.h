// What this build is: the project version, the git commit it was configured from, and the source
// tree it was built from (ttt-train refuses that tree as a run directory). Set by CMake.
#pragma once

namespace ttt {

extern const char kVersion[];
extern const char kGitCommit[];  // "unknown" when configured outside a git checkout
extern const char kSourceDir[];

}  // namespace ttt
