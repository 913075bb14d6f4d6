// Multi-tensor AdamW: every parameter of the model in one kernel launch. The host builds a
// table of chunks (tensor, start) and copies it with the tensor table to the device; each block
// updates one chunk. Same formula as core/cpu/optim.cpp.
#include "core/allocator.h"
#include "core/backend.h"
#include "core/cuda/cuda_check.h"

namespace ttt::cuda {

namespace {

constexpr int64_t kChunk = 16384;  // elements per block

struct Chunk {
  int32_t tensor;
  int64_t start;
};

__global__ void adamw_kernel(const AdamWTensor* tensors, const Chunk* chunks, AdamWHyper h, const float* grad_scale) {
  const Chunk c = chunks[blockIdx.x];
  const AdamWTensor t = tensors[c.tensor];
  const float scale = grad_scale ? *grad_scale : 1.0f;
  const float step_size = t.lr / h.bias_correction1, bc2_sqrt = sqrtf(h.bias_correction2);
  const int64_t end = min(c.start + kChunk, t.numel);
  for (int64_t i = c.start + threadIdx.x; i < end; i += blockDim.x) {
    const float g = t.grad[i] * scale;
    float p = t.param[i] * (1.0f - t.lr * t.weight_decay);
    const float m = t.exp_avg[i] + (1.0f - h.beta1) * (g - t.exp_avg[i]);
    const float v = h.beta2 * t.exp_avg_sq[i] + (1.0f - h.beta2) * g * g;
    p -= step_size * m / (sqrtf(v) / bc2_sqrt + h.eps);
    t.param[i] = p;
    t.exp_avg[i] = m;
    t.exp_avg_sq[i] = v;
  }
}

}  // namespace

void adamw_step(const std::vector<AdamWTensor>& tensors, const AdamWHyper& h, const float* grad_scale) {
  std::vector<Chunk> chunks;
  for (size_t i = 0; i < tensors.size(); ++i)
    for (int64_t s = 0; s < tensors[i].numel; s += kChunk) chunks.push_back({static_cast<int32_t>(i), s});
  if (chunks.empty()) return;
  const size_t table_bytes = tensors.size() * sizeof(AdamWTensor), chunk_bytes = chunks.size() * sizeof(Chunk);
  int device = 0;
  TTT_CUDA_CHECK(cudaGetDevice(&device));
  // Stream-ordered: the tables are freed to the cache after the launch is queued, and any later
  // owner of these bytes runs after this kernel on the same stream.
  char* table = static_cast<char*>(device_alloc(table_bytes + chunk_bytes, device));
  TTT_CUDA_CHECK(cudaMemcpyAsync(table, tensors.data(), table_bytes, cudaMemcpyHostToDevice, current_stream()));
  TTT_CUDA_CHECK(cudaMemcpyAsync(table + table_bytes, chunks.data(), chunk_bytes, cudaMemcpyHostToDevice, current_stream()));
  adamw_kernel<<<static_cast<unsigned>(chunks.size()), kBlock, 0, current_stream()>>>(
      reinterpret_cast<const AdamWTensor*>(table), reinterpret_cast<const Chunk*>(table + table_bytes), h, grad_scale);
  TTT_CUDA_CHECK_LAUNCH();
  device_free(table);
}

}  // namespace ttt::cuda
