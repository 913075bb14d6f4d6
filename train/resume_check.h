// What --resume compares before it touches anything: the checkpoint's resolved config, seed, data
// identity and code version against the run as it would continue now.
//   * Safe changes (how long to train and how often to log, evaluate and checkpoint, the device)
//     are listed and applied.
//   * A change of the model's shape is refused: the checkpoint's tensors would not fit.
//   * Every other change (data, seed, batch, optimizer, schedule, ...) is refused, one line per
//     key ("model.width: checkpoint 32, now 48"), unless --allow-config-change names the key or
//     its section ("data" allows every data.* key and a changed data file).
//   * Several GPUs: the number of GPUs may change when the global batch (run.batch_size times
//     the GPUs, recorded as run.global_batch_size) stays: the same rows in the same order.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "train/checkpoint.h"

namespace ttt {

// Not a YAML key: the trainer records it in the checkpoint's resolved config.
inline constexpr const char* kGlobalBatchKey = "run.global_batch_size";

struct ResumeChanges {
  std::vector<std::string> applied;  // "run.max_steps: checkpoint 600, now 1000"
  std::vector<std::string> notes;    // e.g. another code version
};

// Throws ttt::Error listing every refused change; returns what is applied.
// `defaults` (default_resolved_config()): a key the checkpoint lacks (it was added to ttt-train
// later) counts as unchanged while its value now is its default.
ResumeChanges check_resume(const TrainerState& saved, const std::map<std::string, std::string>& resolved_now,
                           const std::map<std::string, std::string>& data_now, const std::string& code_version_now,
                           const std::vector<std::string>& allowed, const std::map<std::string, std::string>& defaults = {});

}  // namespace ttt
