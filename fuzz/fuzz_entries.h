// What each fuzz target does with one input. Shared by the libFuzzer targets (fuzz_*.cpp) and
// the regression test that replays every saved input (tests/train/test_fuzz_regressions.cpp).
// Rejecting an input with ttt::Error is the expected outcome; anything else (a crash, another
// exception type, a sanitizer report, a hang) is a bug.
#pragma once
#include <string>

#include "core/error.h"
#include "nn/safetensors.h"
#include "train/config.h"
#include "train/data.h"
#include "train/moshi_options.h"

namespace ttt::fuzz {

// The YAML config loader and validator; the input's first line may hold overrides ("#o a=b c=d").
inline void config(const std::string& input) {
  std::vector<std::string> overrides;
  if (input.rfind("#o ", 0) == 0) {
    const std::string line = input.substr(3, input.find('\n') - 3);
    size_t start = 0;
    while (start < line.size()) {
      size_t sp = line.find(' ', start);
      if (sp == std::string::npos) sp = line.size();
      if (sp > start) overrides.push_back(line.substr(start, sp - start));
      start = sp + 1;
    }
  }
  try {
    parse_config(input, "fuzz", overrides);
  } catch (const Error&) {}
}

inline void safetensors(const std::string& input) {
  try {
    nn::parse_safetensors(input, "fuzz");
  } catch (const Error&) {}
}

// A Moshi checkpoint's LMModel options (config.json) read into a model config (train/moshi_options.h).
inline void moshi_options(const std::string& input) {
  try {
    moshi_options_from_json(input, "fuzz");
  } catch (const Error&) {}
}

inline void tokens(const std::string& input) {
  try {
    parse_token_file(input, "fuzz");
  } catch (const Error&) {}
}

}  // namespace ttt::fuzz
