#include "train/faults.h"

#include <cstdlib>
#include <string>

namespace ttt {

bool fault_at(const char* name, int64_t step) {
  const char* env = std::getenv("TTT_FAULT");
  if (!env || !*env) return false;
  const std::string spec = env, want = std::string(name) + ":" + std::to_string(step);
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    if (comma == std::string::npos) comma = spec.size();
    if (spec.compare(start, comma - start, want) == 0) return true;
    start = comma + 1;
  }
  return false;
}

}  // namespace ttt
