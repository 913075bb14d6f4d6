// libFuzzer target: see fuzz/fuzz_entries.h and tools/fuzz.sh.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_entries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ttt::fuzz::moshi_options(std::string(reinterpret_cast<const char*>(data), size));
  return 0;
}
