// CUDA kernels of the TTT layer's two row norms (docs/spec/TTT_SPEC.md E1a and E2a), forward and backward side
// by side; the math is core/cpu/row_norms.cpp's. The rows are short (a head: d = 64), so each warp
// takes a row (lanes stride it, shuffles sum it) and a block of 256 threads takes 8 rows, instead
// of a block per row with 3/4 of its threads idle.
#include "core/backend.h"
#include "core/cuda/block_reduce.cuh"
#include "core/cuda/cuda_check.h"

namespace ttt::cuda {

namespace {

constexpr int kWarpsPerBlock = kBlock / 32;

__device__ __forceinline__ float warp_sum(float v) { return warp_reduce(v, SumOp{}); }

// The row this warp owns, or -1 past the end (the whole warp returns together: shuffles stay full).
__device__ __forceinline__ int64_t warp_row(int64_t rows) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  return r < rows ? r : -1;
}

unsigned blocks_for_rows(int64_t rows) { return static_cast<unsigned>((rows + kWarpsPerBlock - 1) / kWarpsPerBlock); }

__global__ void l2_normalize_kernel(const float* x, float eps, float* y, float* den, int64_t rows, int64_t d) {
  const int64_t r = warp_row(rows);
  if (r < 0) return;
  const int lane = threadIdx.x % 32;
  const float* a = x + r * d;
  float ss = 0;
  for (int64_t j = lane; j < d; j += 32) ss += a[j] * a[j];
  const float n = fmaxf(sqrtf(warp_sum(ss)), eps);
  if (lane == 0) den[r] = n;
  for (int64_t j = lane; j < d; j += 32) y[r * d + j] = a[j] / n;
}

__global__ void l2_normalize_backward_kernel(const float* g, const float* y, const float* den, float eps, float* dx, int64_t rows,
                                             int64_t d) {
  const int64_t r = warp_row(rows);
  if (r < 0) return;
  const int lane = threadIdx.x % 32;
  const int64_t off = r * d;
  const float n = den[r];
  if (!(n > eps)) {  // a clamped row is x / eps
    for (int64_t j = lane; j < d; j += 32) dx[off + j] = g[off + j] / eps;
    return;
  }
  float gy = 0;
  for (int64_t j = lane; j < d; j += 32) gy += g[off + j] * y[off + j];
  gy = warp_sum(gy);
  for (int64_t j = lane; j < d; j += 32) dx[off + j] = (g[off + j] - y[off + j] * gy) / n;
}

__global__ void unbiased_head_norm_kernel(const float* x, const float* weight, const float* bias, float eps, float* y,
                                          float* mean, float* std_dev, int64_t rows, int64_t len, int64_t heads, int64_t d) {
  const int64_t r = warp_row(rows);
  if (r < 0) return;
  const int lane = threadIdx.x % 32;
  const float* a = x + r * d;
  const float *w = weight + (r / len) % heads * d, *b = bias + (r / len) % heads * d;
  float s = 0;
  for (int64_t j = lane; j < d; j += 32) s += a[j];
  const float mu = warp_sum(s) / d;
  float v = 0;
  for (int64_t j = lane; j < d; j += 32) v += (a[j] - mu) * (a[j] - mu);
  const float sd = sqrtf(warp_sum(v) / (d - 1)), rsigma = 1.0f / (sd + eps);
  if (lane == 0) {
    mean[r] = mu;
    std_dev[r] = sd;
  }
  for (int64_t j = lane; j < d; j += 32) y[r * d + j] = (a[j] - mu) * rsigma * w[j] + b[j];
}

// dx = (gh - mean(gh)) / sigma - c sum(gh c) / (sigma^2 (d - 1) s), gh = g w[h]; grad_xhat = g c / sigma
// (skipped when gxhat is null: a frozen weight).
__global__ void unbiased_head_norm_backward_kernel(const float* g, const float* x, const float* weight, const float* mean,
                                                   const float* std_dev, float eps, float* dx, float* gxhat, int64_t rows,
                                                   int64_t len, int64_t heads, int64_t d) {
  const int64_t r = warp_row(rows);
  if (r < 0) return;
  const int lane = threadIdx.x % 32;
  const int64_t off = r * d;
  const float* w = weight + (r / len) % heads * d;
  const float mu = mean[r], s = std_dev[r], sigma = s + eps;
  float sum_gh = 0, sum_ghc = 0;
  for (int64_t j = lane; j < d; j += 32) {
    const float gh = g[off + j] * w[j];
    sum_gh += gh;
    sum_ghc += gh * (x[off + j] - mu);
  }
  const float mean_gh = warp_sum(sum_gh) / d;
  sum_ghc = warp_sum(sum_ghc);
  const float k = s > 0 ? sum_ghc / (sigma * sigma * (d - 1) * s) : 0.0f;
  for (int64_t j = lane; j < d; j += 32) {
    const float c = x[off + j] - mu;
    dx[off + j] = (g[off + j] * w[j] - mean_gh) / sigma - c * k;
    if (gxhat) gxhat[off + j] = g[off + j] * c / sigma;
  }
}

int64_t rows_in(const Tensor& x) { return x.numel() / x.size(-1); }

}  // namespace

void l2_normalize(const Tensor& x, double eps, const Tensor& y, const Tensor& den) {
  const int64_t rows = rows_in(x);
  l2_normalize_kernel<<<blocks_for_rows(rows), kBlock, 0, current_stream()>>>(x.data<float>(), float(eps), y.data<float>(),
                                                                              den.data<float>(), rows, x.size(-1));
  TTT_CUDA_CHECK_LAUNCH();
}

void l2_normalize_backward(const Tensor& grad, const Tensor& y, const Tensor& den, double eps, const Tensor& grad_x) {
  const int64_t rows = rows_in(y);
  l2_normalize_backward_kernel<<<blocks_for_rows(rows), kBlock, 0, current_stream()>>>(
      grad.data<float>(), y.data<float>(), den.data<float>(), float(eps), grad_x.data<float>(), rows, y.size(-1));
  TTT_CUDA_CHECK_LAUNCH();
}

void unbiased_head_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y,
                        const Tensor& mean, const Tensor& std_dev) {
  const int64_t rows = rows_in(x);
  unbiased_head_norm_kernel<<<blocks_for_rows(rows), kBlock, 0, current_stream()>>>(
      x.data<float>(), weight.data<float>(), bias.data<float>(), float(eps), y.data<float>(), mean.data<float>(),
      std_dev.data<float>(), rows, x.size(-2), x.size(-3), x.size(-1));
  TTT_CUDA_CHECK_LAUNCH();
}

void unbiased_head_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                 const Tensor& std_dev, double eps, const Tensor& grad_x, const Tensor& grad_xhat) {
  const int64_t rows = rows_in(x);
  unbiased_head_norm_backward_kernel<<<blocks_for_rows(rows), kBlock, 0, current_stream()>>>(
      grad.data<float>(), x.data<float>(), weight.data<float>(), mean.data<float>(), std_dev.data<float>(), float(eps),
      grad_x.data<float>(), grad_xhat.defined() ? grad_xhat.data<float>() : nullptr, rows, x.size(-2), x.size(-3), x.size(-1));
  TTT_CUDA_CHECK_LAUNCH();
}

}  // namespace ttt::cuda
