// CUDA kernels of the softmax family and cross-entropy: one block per row, block-wide reductions
// (block_reduce.cuh). The math is core/cpu/softmax.cpp's.
#include <algorithm>

#include "core/backend.h"
#include "core/cuda/bf16.cuh"
#include "core/cuda/block_reduce.cuh"
#include "core/cuda/cuda_check.h"
#include "core/cuda/row_kernels.cuh"

namespace ttt::cuda {

namespace {

__device__ __forceinline__ int64_t index_at(const void* p, bool is_i32, int64_t i) {
  return is_i32 ? static_cast<const int32_t*>(p)[i] : static_cast<const int64_t*>(p)[i];
}

// y = softmax(scale x) over the entries that are not blocked (blocked ones get 0; SoftmaxArgs);
// lse (when not null) = log sum exp(scale x) over them. T: float or bf16, computed in f32
// (core/cuda/bf16.cuh), lse f32; likewise below.
template <class T>
__global__ void softmax_kernel(const T* x, T* y, float* lse, int64_t d, SoftmaxArgs args) {
  const T* a = x + blockIdx.x * d;
  T* b = y + blockIdx.x * d;
  const float k = static_cast<float>(args.scale);
  const int64_t i = args.queries > 0 ? blockIdx.x % args.queries : 0;
  const int64_t cols = softmax_columns(args, i, d);
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
    if (!attention_blocked(args, i, j)) m = fmaxf(m, k * load_f32(a[j]));
  m = block_max(m);
  float s = 0;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
    if (!attention_blocked(args, i, j)) s += expf(k * load_f32(a[j]) - m);
  s = block_sum(s);
  const float log_s = logf(s);
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
    b[j] = store_as<T>(args.log                        ? load_f32(a[j]) - m - log_s
                       : attention_blocked(args, i, j) ? 0.0f
                                                       : expf(k * load_f32(a[j]) - m) / s);
  if (lse && threadIdx.x == 0) lse[blockIdx.x] = m + log_s;
}

// y = exp(scale x - lse) on open entries (the softmax that produced lse), 0 on blocked ones.
template <class T>
__global__ void softmax_from_lse_kernel(const T* x, const float* lse, T* y, int64_t d, SoftmaxArgs args) {
  const T* a = x + blockIdx.x * d;
  T* b = y + blockIdx.x * d;
  const float k = static_cast<float>(args.scale), l = lse[blockIdx.x];
  const int64_t i = args.queries > 0 ? blockIdx.x % args.queries : 0;
  const int64_t cols = softmax_columns(args, i, d);
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
    b[j] = store_as<T>(attention_blocked(args, i, j) ? 0.0f : expf(k * load_f32(a[j]) - l));
}

// softmax: dx = scale y (g - sum(g y));  log-softmax: dx = g - exp(y) sum(g). Blocked entries
// (SoftmaxArgs) are neither read nor given a gradient: dx = 0 there, whatever g holds.
template <class T>
__global__ void softmax_backward_kernel(const T* g, const T* y, T* dx, int64_t d, SoftmaxArgs args) {
  const int64_t off = blockIdx.x * d;
  const bool log = args.log;
  const float k = static_cast<float>(args.scale);
  const int64_t i = args.queries > 0 ? blockIdx.x % args.queries : 0;
  const int64_t cols = softmax_columns(args, i, d);
  float s = 0;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
    if (!attention_blocked(args, i, j)) s += log ? load_f32(g[off + j]) : load_f32(g[off + j]) * load_f32(y[off + j]);
  s = block_sum(s);
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    const float gj = load_f32(g[off + j]), yj = load_f32(y[off + j]);
    dx[off + j] = store_as<T>(attention_blocked(args, i, j) ? 0.0f : log ? gj - expf(yj) * s : k * yj * (gj - s));
  }
}

// A target outside [0, V) that is not ignore_index yields a NaN loss (visible, never a bad read).
__global__ void cross_entropy_kernel(const float* logits, const void* targets, bool i32, int64_t ignore, float* loss,
                                     float* valid, float* lse, int64_t v) {
  const float* a = logits + blockIdx.x * v;
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < v; j += blockDim.x) m = fmaxf(m, a[j]);
  m = block_max(m);
  float s = 0;
  for (int64_t j = threadIdx.x; j < v; j += blockDim.x) s += expf(a[j] - m);
  s = block_sum(s);
  if (threadIdx.x == 0) {
    const float l = m + logf(s);
    const int64_t t = index_at(targets, i32, blockIdx.x);
    lse[blockIdx.x] = l;
    valid[blockIdx.x] = t == ignore ? 0.0f : 1.0f;
    loss[blockIdx.x] = t == ignore ? 0.0f : (t >= 0 && t < v ? l - a[t] : NAN);
  }
}

__global__ void cross_entropy_backward_kernel(const float* logits, const void* targets, bool i32, int64_t ignore,
                                              const float* lse, const float* scale, float* g, int64_t v) {
  const int64_t t = index_at(targets, i32, blockIdx.x);
  const float k = scale[0], l = lse[blockIdx.x];
  const int64_t off = blockIdx.x * v;
  for (int64_t j = threadIdx.x; j < v; j += blockDim.x)
    g[off + j] = t == ignore ? 0.0f : k * (expf(logits[off + j] - l) - (j == t ? 1.0f : 0.0f));
}

}  // namespace

void softmax(const Tensor& x, const Tensor& y, const Tensor& lse, const SoftmaxArgs& args) {
  dispatch_f32_bf16(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    softmax_kernel<T><<<rows_of(x), kBlock, 0, current_stream()>>>(x.data<T>(), y.data<T>(), opt_mut(lse), x.size(-1), args);
  });
  TTT_CUDA_CHECK_LAUNCH();
}

void softmax_from_lse(const Tensor& x, const Tensor& lse, const Tensor& y, const SoftmaxArgs& args) {
  dispatch_f32_bf16(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    softmax_from_lse_kernel<T>
        <<<rows_of(x), kBlock, 0, current_stream()>>>(x.data<T>(), lse.data<float>(), y.data<T>(), x.size(-1), args);
  });
  TTT_CUDA_CHECK_LAUNCH();
}

void softmax_backward(const Tensor& grad, const Tensor& y, const Tensor& grad_x, const SoftmaxArgs& args) {
  dispatch_f32_bf16(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    softmax_backward_kernel<T>
        <<<rows_of(y), kBlock, 0, current_stream()>>>(grad.data<T>(), y.data<T>(), grad_x.data<T>(), y.size(-1), args);
  });
  TTT_CUDA_CHECK_LAUNCH();
}

void cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index, const Tensor& row_loss,
                   const Tensor& row_valid, const Tensor& lse) {
  cross_entropy_kernel<<<static_cast<unsigned>(logits.size(0)), kBlock, 0, current_stream()>>>(
      logits.data<float>(), targets.raw_data(), targets.dtype() == DType::i32, ignore_index, row_loss.data<float>(),
      row_valid.data<float>(), lse.data<float>(), logits.size(1));
  TTT_CUDA_CHECK_LAUNCH();
}

void cross_entropy_backward(const Tensor& logits, const Tensor& targets, int64_t ignore_index, const Tensor& lse,
                            const Tensor& scale, const Tensor& grad_logits) {
  cross_entropy_backward_kernel<<<static_cast<unsigned>(logits.size(0)), kBlock, 0, current_stream()>>>(
      logits.data<float>(), targets.raw_data(), targets.dtype() == DType::i32, ignore_index, lse.data<float>(),
      scale.data<float>(), grad_logits.data<float>(), logits.size(1));
  TTT_CUDA_CHECK_LAUNCH();
}

}  // namespace ttt::cuda
