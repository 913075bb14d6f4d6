// Replays every fuzz seed and every saved crashing input (fuzz/corpus, fuzz/regressions) through
// the same entry points the libFuzzer targets use: each must be accepted or refused with a
// ttt::Error, never crash or throw anything else. The sanitizer preset runs this too.
#include <gtest/gtest.h>

#include <filesystem>

#include "fuzz/fuzz_entries.h"
#include "tests/train/train_runner.h"

namespace ttt::testing {
namespace {

namespace fs = std::filesystem;

void replay(const std::string& target, void (*entry)(const std::string&)) {
  int files = 0;
  for (const char* kind : {"corpus", "regressions"}) {
    const fs::path dir = fs::path(source_dir()) / "fuzz" / kind / target;
    if (!fs::exists(dir)) continue;
    for (auto& e : fs::directory_iterator(dir)) {
      if (!e.is_regular_file()) continue;
      SCOPED_TRACE(e.path().string());
      EXPECT_NO_THROW(entry(read_file(e.path().string())));
      ++files;
    }
  }
  EXPECT_GT(files, 0) << "no inputs for " << target;
}

TEST(FuzzRegressions, Config) { replay("config", fuzz::config); }
TEST(FuzzRegressions, Safetensors) { replay("safetensors", fuzz::safetensors); }
TEST(FuzzRegressions, Tokens) { replay("tokens", fuzz::tokens); }
TEST(FuzzRegressions, MoshiOptions) { replay("moshi_options", fuzz::moshi_options); }

}  // namespace
}  // namespace ttt::testing
