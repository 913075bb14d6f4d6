// Where tests find the source tree (fixtures, tools). The build bakes in its own path; the
// environment variable TTT_SOURCE_DIR overrides it when the binaries run elsewhere (the GPU machine).
#pragma once
#include <cstdlib>
#include <string>

namespace ttt::testing {

inline std::string source_dir() {
  const char* env = std::getenv("TTT_SOURCE_DIR");
  return env && *env ? env : TTT_SOURCE_DIR;
}

inline std::string python() {
  const char* env = std::getenv("TTT_PYTHON");
  return env && *env ? env : TTT_PYTHON;
}

}  // namespace ttt::testing
