// The training loop behind ttt-train: build, report, train, evaluate, checkpoint, resume.
#pragma once
#include <string>
#include <vector>

#include "train/config.h"
#include "train/faults.h"

namespace ttt {

struct TrainOptions {
  bool dry_run = false;                          // build on the meta device, apply the policy, print the tables, exit
  int depth = 3;                                 // --dry-run's module table: levels of the module tree shown
  std::string resume_dir;                        // continue this run from its newest checkpoint
  std::vector<std::string> allow_config_change;  // keys (or sections) --resume may change
  Faults faults;                                 // injected faults (tests only: train/faults.h)
  std::vector<std::string> argv;                 // the command line, for run.devices' launcher (it starts copies)
};

// Returns the process exit code (0 on success). Errors are thrown as ttt::Error.
int run_training(const TrainConfig& config, const TrainOptions& options);

}  // namespace ttt
