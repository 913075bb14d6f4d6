// Collectives among the processes of a data-parallel run (one GPU each), over NCCL: the sum of a
// tensor across ranks, in place. Rank 0 makes the unique id, every rank receives it (the
// rendezvous, train/distributed.h), and each builds its communicator from it. A collective that
// makes no progress (another rank died or stopped) ends with an error naming the rank and the wait
// instead of a hang: the host polls NCCL's asynchronous error and aborts the communicator.
#pragma once
#include <string>
#include <utility>
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

  // Each tensor overwritten with rank roots[i]'s, in place, as one NCCL group (ZeRO-1: the owners'
  // updated parameters to every rank).
  void broadcast(const std::vector<Tensor>& tensors, const std::vector<int>& roots);
  // Rank `from`'s `t` into rank 0's `t` (same shape on both; the other ranks take no part and
  // return at once): ZeRO-1's optimizer state gathered for rank 0's checkpoint.
  void copy_to_rank0(const Tensor& t, int from);

  // Overlapped sums (train/grad_reducer.h): each call sums its tensors in place on a side stream,
  // after the work queued so far on the current stream, and returns at once, so the current stream
  // goes on (backward) while NCCL works. The tensors must stay alive and untouched until join().
  // Inside a CUDA graph's capture the side stream forks from and joins the captured stream, and the
  // sums become part of the graph.
  void all_reduce_sum_async(const std::vector<Tensor>& tensors);
  // The current stream waits for every launched sum, and (outside a capture) so does the host,
  // under the timeout. Returns the side stream's time summing and the part of it not hidden behind
  // the current stream's own work (what ran there from the first launch to join), from CUDA events
  // (all zero inside a capture: a replay is not timed).
  struct OverlapTimes {
    double reduce_ms = 0;   // the side stream busy summing
    double exposed_ms = 0;  // from the current stream's last work before join() to the last sum's end
    int launches = 0;
  };
  OverlapTimes join();
  // The host waits, under the timeout, for every piece of work queued so far (a replayed graph's
  // collectives included).
  void wait_for_device_work();

  int rank() const { return rank_; }
  int world_size() const { return world_; }

 private:
  // The host waits until `done` (an event, or the current stream's work when null) has happened,
  // watching NCCL's error and the timeout.
  void wait(const char* what, void* done = nullptr);
  [[maybe_unused]] void* side_stream_ = nullptr;  // cudaStream_t, non-blocking: never waits for the default stream
  // cudaEvent_t pairs around each timed async launch this step, and their count
  [[maybe_unused]] std::vector<std::pair<void*, void*>> launch_events_;
  [[maybe_unused]] size_t launched_ = 0;
  // untimed cudaEvent_t that order the two streams, reused each step; how many this step has used
  [[maybe_unused]] std::vector<void*> order_events_;
  [[maybe_unused]] size_t ordered_ = 0;
  void* order_event();  // the next of order_events_
  // (unused in a build without CUDA, whose stubs only refuse)
  [[maybe_unused]] void* comm_ = nullptr;  // ncclComm_t
  int rank_ = 0, world_ = 1;
  Device device_;
  [[maybe_unused]] double timeout_s_ = 0;
};

}  // namespace ttt
