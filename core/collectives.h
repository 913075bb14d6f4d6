// Collectives among the processes of a data-parallel run (one GPU each), over NCCL: the sum of a
// tensor across ranks, in place. Rank 0 makes the unique id, every rank receives it (the
// rendezvous, train/distributed.h), and each builds its communicator from it. A collective that
// makes no progress (another rank died or stopped) ends with an error naming the rank and the wait
// instead of a hang: the host polls NCCL's asynchronous error and aborts the communicator.
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"

namespace ttt {

class Collectives {
 public:
  static bool available();         // built with NCCL
  static std::string unique_id();  // rank 0: the bytes every rank builds its communicator from
  Collectives(const std::string& unique_id, int rank, int world_size, Device device, double timeout_s = 300);
  ~Collectives();
  Collectives(const Collectives&) = delete;
  Collectives& operator=(const Collectives&) = delete;

  // Every tensor summed across the ranks, in place (f32, f64 or bf16, contiguous, on this rank's
  // GPU), as one NCCL group on the current stream; returns when the sums are done.
  void all_reduce_sum(const std::vector<Tensor>& tensors);

  int rank() const { return rank_; }
  int world_size() const { return world_; }

 private:
  void wait(const char* what);  // for the current stream, watching NCCL's error and the timeout
  // (unused in a build without CUDA, whose stubs only refuse)
  [[maybe_unused]] void* comm_ = nullptr;  // ncclComm_t
  int rank_ = 0, world_ = 1;
  Device device_;
  [[maybe_unused]] double timeout_s_ = 0;
};

}  // namespace ttt
