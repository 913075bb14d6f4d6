// Where tests find the source tree (fixtures, tools). The build bakes in its own path; the
// environment variable TTT_SOURCE_DIR overrides it when the binaries run elsewhere (the GPU machine).
#pragma once
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace ttt::testing {

inline std::string source_dir() {
  const char* env = std::getenv("TTT_SOURCE_DIR");
  return env && *env ? env : TTT_SOURCE_DIR;
}

inline std::string python() {
  const char* env = std::getenv("TTT_PYTHON");
  return env && *env ? env : TTT_PYTHON;
}

// tests/fixtures/<prefix>*.safetensors, sorted.
inline std::vector<std::string> fixture_files(const std::string& prefix) {
  std::vector<std::string> files;
  for (auto& e : std::filesystem::directory_iterator(source_dir() + "/tests/fixtures")) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && e.path().extension() == ".safetensors") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace ttt::testing
