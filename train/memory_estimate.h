// Sizing a run before anything is allocated: the model is built on the meta device (shapes only,
// every tensor counted, none allocated: core/allocator.h), the trainable policy and AdamW applied,
// and one micro-batch of training (forward and backward) run on meta. The peak it reaches is what
// a step keeps alive at once. A run whose estimate exceeds the device (the GPU's memory, or the
// host's physical memory on the CPU) is refused before its run directory is made.
#pragma once
#include <cstdint>
#include <string>

#include "core/device.h"
#include "train/config.h"

namespace ttt {

struct MemoryEstimate {
  uint64_t parameters = 0;   // bytes of every parameter and buffer
  uint64_t gradients = 0;    // the trainable parameters' gradients
  uint64_t optimizer = 0;    // AdamW's two moments per trainable parameter
  uint64_t activations = 0;  // the step's peak above parameters, gradients and optimizer state
  int64_t num_parameters = 0, num_trainable = 0;
  bool step_measured = false;  // false when the meta step could not run (then activations is 0)
  uint64_t total() const { return parameters + gradients + optimizer + activations; }
  std::string str() const;     // a few lines for --dry-run and the start of a run
};

MemoryEstimate estimate_training_memory(const TrainConfig& c);

// The memory the run's device has: the GPU's total, or the host's physical memory.
uint64_t device_memory_bytes(Device device);

// Throws ttt::Error when the estimate exceeds `available` bytes, naming the keys that drive it.
void check_memory_fits(const MemoryEstimate& e, uint64_t available, Device device);

}  // namespace ttt
