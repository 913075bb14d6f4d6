// CudaGraph (core/cuda_graph.h): stream capture into a private allocator pool, then replays.
#include "core/allocator.h"
#include "core/cuda/cuda_check.h"
#include "core/cuda_graph.h"
#include "core/error.h"

namespace ttt {

namespace {
cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }
cudaGraphExec_t as_exec(void* e) { return static_cast<cudaGraphExec_t>(e); }
}  // namespace

CudaGraph::~CudaGraph() {
  if (exec_) cudaGraphExecDestroy(as_exec(exec_));
  if (stream_) cudaStreamDestroy(as_stream(stream_));
}

void CudaGraph::capture(const std::function<void()>& work) {
  TTT_CHECK(!captured(), "cuda graph", "already captured: make a new CudaGraph to record other work");
  cudaStream_t stream = nullptr;
  TTT_CUDA_CHECK(cudaStreamCreate(&stream));  // blocking: ordered with the default stream's work
  stream_ = stream;
  // Everything queued before the capture (on the default stream) must be done or ordered before
  // the graph's first replay; a replay on a blocking stream waits for the default stream anyway.
  cuda::begin_private_pool();
  cuda::set_capture_stream(stream);
  // Relaxed: the allocator may call cudaMalloc for the private pool while the capture runs.
  TTT_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed));
  auto finish = [&](bool ok) -> cudaGraph_t {
    cudaGraph_t graph = nullptr;
    const cudaError_t st = cudaStreamEndCapture(stream, &graph);
    cuda::set_capture_stream(nullptr);
    cuda::end_private_pool();
    if (ok)
      TTT_CUDA_CHECK(st);
    else
      cudaGetLastError();  // the work's own error is the one to report
    return graph;
  };
  try {
    work();
  } catch (...) {
    cudaGraph_t g = finish(false);
    if (g) cudaGraphDestroy(g);
    throw;
  }
  cudaGraph_t graph = finish(true);
  cudaGraphExec_t exec = nullptr;
  const cudaError_t st = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  TTT_CUDA_CHECK(st);
  exec_ = exec;
  constants_ = cached_constants();
}

void CudaGraph::replay() {
  TTT_CHECK(captured(), "cuda graph", "replay() before capture()");
  TTT_CUDA_CHECK(cudaGraphLaunch(as_exec(exec_), as_stream(stream_)));
}

}  // namespace ttt
