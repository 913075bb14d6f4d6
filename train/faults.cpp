#include "train/faults.h"

#include <cstdlib>

#include "core/error.h"

namespace ttt {

Faults Faults::parse(const std::string& spec) {
  Faults f;
  size_t start = 0;
  while (start < spec.size()) {
    size_t comma = spec.find(',', start);
    if (comma == std::string::npos) comma = spec.size();
    const std::string entry = spec.substr(start, comma - start);
    const size_t colon = entry.find(':');
    TTT_CHECK(colon != std::string::npos, "TTT_FAULT", "'", entry, "' is not name:step");
    const std::string name = entry.substr(0, colon), step = entry.substr(colon + 1);
    TTT_CHECK(name == "nan_grad" || name == "kill_in_checkpoint" || name == "kill_at_step" || name == "sigint_in_export",
              "TTT_FAULT", "unknown failpoint '", name, "' (nan_grad, kill_in_checkpoint, kill_at_step, sigint_in_export)");
    TTT_CHECK(!step.empty() && step.find_first_not_of("0123456789") == std::string::npos, "TTT_FAULT", "'", step,
              "' is not a step number");
    f.points_.insert({name, std::stoll(step)});
    start = comma + 1;
  }
  return f;
}

Faults Faults::from_environment() {
  const char* env = std::getenv("TTT_FAULT");
  return env && *env ? parse(env) : Faults();
}

}  // namespace ttt
