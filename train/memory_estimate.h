// Sizing a run before anything is allocated: the model is built on the meta device (shapes only,
// every tensor counted, none allocated: core/allocator.h), the trainable policy and AdamW applied,
// and one micro-batch of training (forward and backward) run on meta. The peak it reaches is what
// a step keeps alive at once. A run whose estimate exceeds the device (the GPU's memory, or the
// host's physical memory on the CPU) is refused before its run directory is made
// (run.memory_check: warn only warns). How close it lands to the allocator's measured peak:
// docs/training.md and docs/performance.md.
#pragma once
#include <cstdint>
#include <string>

#include "core/device.h"
#include "core/memory_ledger.h"
#include "train/config.h"

namespace ttt {

struct MemoryEstimate {
  uint64_t parameters = 0;   // bytes of every parameter and buffer
  uint64_t gradients = 0;    // the trainable parameters' gradients
  uint64_t optimizer = 0;    // AdamW's two moments per trainable parameter
  uint64_t activations = 0;  // the step's peak above parameters, gradients and optimizer state
  int64_t num_parameters = 0, num_trainable = 0;
  bool step_measured = false;  // false when the meta step could not run (then activations is 0)
  // what the forward keeps for backward, by the module that kept it (core/memory_ledger.h), and in all
  std::vector<memory_ledger::Entry> kept_by_forward;
  uint64_t forward_kept = 0;
  uint64_t total() const { return parameters + gradients + optimizer + activations; }
  std::string str() const;  // a few lines for --dry-run and the start of a run: the sum, then the
                            // forward's largest keepers
};

// world: the number of GPUs of a data-parallel run (run.shard_optimizer divides AdamW's state
// among them; the estimate is rank 0's).
MemoryEstimate estimate_training_memory(const TrainConfig& c, int world = 1);

// The memory the run's device has: the GPU's total, or the host's physical memory.
uint64_t device_memory_bytes(Device device);

// When the estimate exceeds `available` bytes: throws ttt::Error naming the keys that drive it,
// or (warn_only) returns that message as a warning. "" when it fits.
std::string check_memory_fits(const MemoryEstimate& e, uint64_t available, Device device, bool warn_only = false);

}  // namespace ttt
