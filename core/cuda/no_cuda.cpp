// Built instead of the CUDA backend when CUDA is off (TTT_CUDA=OFF or no nvcc): every CUDA
// entry point explains that this build has no GPU support. Tensor factories already refuse
// cuda devices (cuda_available() is false), so these are a last line of defence.
#include "core/allocator.h"
#include "core/backend.h"
#include "core/collectives.h"
#include "core/cuda_graph.h"
#include "core/error.h"

namespace ttt {

bool cuda_available() { return false; }
int cuda_device_count() { return 0; }

namespace cuda {

[[noreturn]] static void no_cuda(const char* fn) {
  fail(fn, "this build of ttt.cpp has no CUDA support (configure with nvcc present and TTT_CUDA=ON)");
}

void* device_alloc(size_t, int) { no_cuda("cuda::device_alloc"); }
void device_free(void*) {}
AllocatorStats allocator_stats() { return {}; }
void reset_peak_memory() {}
void empty_cache() {}
size_t device_total_bytes(int) { return 0; }
void begin_private_pool() { no_cuda("cuda::begin_private_pool"); }
void end_private_pool() {}
void copy_bytes(void*, Device, const void*, Device, size_t) { no_cuda("cuda::copy_bytes"); }
void synchronize() {}
bool capturing() { return false; }
void* event_create() { no_cuda("cuda::event_create"); }
void event_record(void*) noexcept {}
float event_elapsed_ms(void*, void*) { no_cuda("cuda::event_elapsed_ms"); }

void fill(const Tensor&, double) { no_cuda("cuda::fill"); }
void cast(const Tensor&, const Tensor&) { no_cuda("cuda::cast"); }
void unary(UnaryOp, const Tensor&, const Tensor&, double, double) { no_cuda("cuda::unary"); }
void binary(BinaryOp, const Tensor&, const Tensor&, const Tensor&, const BroadcastArgs&) { no_cuda("cuda::binary"); }
void reduce(ReduceOp, const Tensor&, const Tensor&, const DimView&) { no_cuda("cuda::reduce"); }
void matmul(const Tensor&, const Tensor&, const Tensor&, const MatmulArgs&) { no_cuda("cuda::matmul"); }
void gather(const Tensor&, const Tensor&, const GatherArgs&) { no_cuda("cuda::gather"); }
void copy_block(const Tensor&, const Tensor&, const BlockCopyArgs&) { no_cuda("cuda::copy_block"); }
void flip(const Tensor&, const Tensor&, const DimView&) { no_cuda("cuda::flip"); }
void tri(const Tensor&, const Tensor&, int64_t, bool) { no_cuda("cuda::tri"); }
void embedding(const Tensor&, const Tensor&, const Tensor&) { no_cuda("cuda::embedding"); }
void embedding_backward(const Tensor&, const Tensor&, const Tensor&) { no_cuda("cuda::embedding_backward"); }
void swiglu(const Tensor&, const Tensor&) { no_cuda("cuda::swiglu"); }
void swiglu_backward(const Tensor&, const Tensor&, const Tensor&) { no_cuda("cuda::swiglu_backward"); }
void softmax(const Tensor&, const Tensor&, const Tensor&, const SoftmaxArgs&) { no_cuda("cuda::softmax"); }
void softmax_from_lse(const Tensor&, const Tensor&, const Tensor&, const SoftmaxArgs&) { no_cuda("cuda::softmax_from_lse"); }
void softmax_backward(const Tensor&, const Tensor&, const Tensor&, const SoftmaxArgs&) { no_cuda("cuda::softmax_backward"); }
void layer_norm(const Tensor&, const Tensor&, const Tensor&, double, const Tensor&, const Tensor&, const Tensor&) {
  no_cuda("cuda::layer_norm");
}
void layer_norm_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                         const Tensor&) {
  no_cuda("cuda::layer_norm_backward");
}
void rms_norm(const Tensor&, const Tensor&, double, const Tensor&, const Tensor&) { no_cuda("cuda::rms_norm"); }
void rms_norm_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  no_cuda("cuda::rms_norm_backward");
}
void l2_normalize(const Tensor&, double, const Tensor&, const Tensor&) { no_cuda("cuda::l2_normalize"); }
void l2_normalize_backward(const Tensor&, const Tensor&, const Tensor&, double, const Tensor&) {
  no_cuda("cuda::l2_normalize_backward");
}
void unbiased_head_norm(const Tensor&, const Tensor&, const Tensor&, double, const Tensor&, const Tensor&, const Tensor&) {
  no_cuda("cuda::unbiased_head_norm");
}
void ln_l2_grad(const Tensor&, const Tensor&, const Tensor&, const Tensor&, double, const Tensor&, const Tensor&, const Tensor&) {
  no_cuda("cuda::ln_l2_grad");
}
void ln_l2_grad_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                         const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  no_cuda("cuda::ln_l2_grad_backward");
}
void unbiased_head_norm_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, double, const Tensor&,
                                 const Tensor&) {
  no_cuda("cuda::unbiased_head_norm_backward");
}
void cross_entropy(const Tensor&, const Tensor&, int64_t, const Tensor&, const Tensor&, const Tensor&) {
  no_cuda("cuda::cross_entropy");
}
void cross_entropy_backward(const Tensor&, const Tensor&, int64_t, const Tensor&, const Tensor&, const Tensor&) {
  no_cuda("cuda::cross_entropy_backward");
}
void sample_tokens(const Tensor&, const Tensor&, const Tensor&, const SampleArgs&) { no_cuda("cuda::sample_tokens"); }
void index_step(const Tensor&, int64_t, int64_t, const Tensor&) { no_cuda("cuda::index_step"); }
void cache_write(const Tensor&, const Tensor&, const Tensor&) { no_cuda("cuda::cache_write"); }
void attention_decode(const Tensor&, const Tensor&, const Tensor&, const Tensor&, double, const Tensor&) {
  no_cuda("cuda::attention_decode");
}
void ttt_stream_step(const TttStepArgs&) { no_cuda("cuda::ttt_stream_step"); }
void rope(const Tensor&, const Tensor&, double, bool, const Tensor&) { no_cuda("cuda::rope"); }
void random_normal(const Tensor&, uint64_t, uint64_t) { no_cuda("cuda::random_normal"); }
void random_uniform(const Tensor&, uint64_t, uint64_t) { no_cuda("cuda::random_uniform"); }
void adamw_step(const std::vector<AdamWTensor>&, const AdamWHyper&, const float*) { no_cuda("cuda::adamw_step"); }
void flash_attention(const Tensor&, const Tensor&, const Tensor&, const SoftmaxArgs&, MatmulPrecision, const Tensor&,
                     const Tensor&) {
  no_cuda("cuda::flash_attention");
}
void flash_attention_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                              const SoftmaxArgs&, MatmulPrecision, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  no_cuda("cuda::flash_attention_backward");
}

}  // namespace cuda
}  // namespace ttt

namespace ttt {
CudaGraph::~CudaGraph() = default;
void CudaGraph::capture(const std::function<void()>&) {
  fail("cuda graph", "this build of ttt.cpp has no CUDA support: there is nothing to capture");
}
void CudaGraph::replay() { fail("cuda graph", "this build of ttt.cpp has no CUDA support"); }
bool Collectives::available() { return false; }
std::string Collectives::unique_id() { fail("Collectives", "this build of ttt.cpp has no CUDA (and so no NCCL) support"); }
Collectives::Collectives(const std::string&, int, int, Device, double) {
  fail("Collectives", "this build of ttt.cpp has no CUDA (and so no NCCL) support");
}
Collectives::~Collectives() = default;
void Collectives::all_reduce_sum(const std::vector<Tensor>&) {}
void Collectives::all_reduce_sum_async(const std::vector<Tensor>&) {}
void Collectives::broadcast(const std::vector<Tensor>&, const std::vector<int>&) {}
void Collectives::copy_to_rank0(const Tensor&, int) {}
Collectives::OverlapTimes Collectives::join() { return {}; }
void Collectives::wait_for_device_work() {}
void* Collectives::order_event() { return nullptr; }
void Collectives::wait(const char*, void*) {}

}  // namespace ttt
