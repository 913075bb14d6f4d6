// Record a run of CUDA work once, replay it many times: a CUDA graph. A training step of fixed
// shapes launches thousands of kernels; replayed as one graph, the GPU starts it at once instead
// of waiting for the host to launch each kernel (docs/performance.md has the figures).
//
// The rules that make a replay correct, and how they are kept:
// * The graph reads and writes the device addresses it had at capture. Every block handed out
//   during the capture comes from the graph's private pool (core/allocator.h), which nothing
//   outside the graph's captures ever uses, so no other tensor can be given those bytes later.
// * What the graph reads but did not allocate must stay alive and keep its address: the caller's
//   inputs (copy new values into them with copy_into before replay()), parameters, and the cached
//   constants (the graph holds every one that existed at the end of the capture).
// * Nothing inside may wait for the device or copy to or from the host (a .item(), a
//   to_vector()): capture fails with a CUDA error naming the call.
// * The tensors the captured code created (the loss, gradients) keep receiving the new values at
//   each replay: hold on to them, and do not replace them (zero_grad would drop the gradients the
//   graph writes).
// A build without CUDA refuses to capture.
#pragma once
#include <functional>
#include <vector>

#include "core/tensor.h"

namespace ttt {

class CudaGraph {
 public:
  CudaGraph() = default;
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;
  ~CudaGraph();

  // Runs `work` under stream capture (its CUDA work is recorded, not run) and builds the graph.
  // The work has not run when this returns: call replay() for that.
  void capture(const std::function<void()>& work);
  void replay();  // queues the recorded work on the default stream's order
  bool captured() const { return exec_ != nullptr; }

 private:
  [[maybe_unused]] void* stream_ = nullptr;  // cudaStream_t of the capture and the replays (unused without CUDA)
  void* exec_ = nullptr;                     // cudaGraphExec_t
  std::vector<Tensor> constants_;
};

}  // namespace ttt
