// CUDA kernels of the norms, forward and backward side by side; the math is core/cpu/norms.cpp's.
// Layer norm and RMS norm: one block per row (rows are wide: the model's width). The TTT layer's
// two row norms (docs/spec/TTT_SPEC.md E1a and E2a) have short rows (a head: d = 64), so each warp
// takes a row (lanes stride it, shuffles sum it) and a block of 256 threads takes 8 rows, instead
// of a block per row with 3/4 of its threads idle.
#include <algorithm>

#include "core/backend.h"
#include "core/cuda/bf16.cuh"
#include "core/cuda/block_reduce.cuh"
#include "core/cuda/cuda_check.h"
#include "core/cuda/grid_stride.cuh"
#include "core/cuda/row_kernels.cuh"

namespace ttt::cuda {

namespace {

__global__ void layer_norm_kernel(const float* x, const float* w, const float* b, float eps, float* y, float* mean, float* rstd,
                                  int64_t d) {
  const float* a = x + blockIdx.x * d;
  float s = 0;
  for (int64_t j = threadIdx.x; j < d; j += blockDim.x) s += a[j];
  const float mu = block_sum(s) / d;
  float v = 0;
  for (int64_t j = threadIdx.x; j < d; j += blockDim.x) v += (a[j] - mu) * (a[j] - mu);
  const float rs = rsqrtf(block_sum(v) / d + eps);
  if (threadIdx.x == 0) {
    mean[blockIdx.x] = mu;
    rstd[blockIdx.x] = rs;
  }
  for (int64_t j = threadIdx.x; j < d; j += blockDim.x)
    y[blockIdx.x * d + j] = (a[j] - mu) * rs * (w ? w[j] : 1.0f) + (b ? b[j] : 0.0f);
}

// dx = rstd (gh - mean(gh) - xhat mean(gh xhat)), gh = g w
__global__ void layer_norm_backward_kernel(const float* g, const float* x, const float* w, const float* mean, const float* rstd,
                                           float* dx, int64_t d) {
  const int64_t off = blockIdx.x * d;
  const float mu = mean[blockIdx.x], rs = rstd[blockIdx.x];
  float s1 = 0, s2 = 0;
  for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
    const float gh = g[off + j] * (w ? w[j] : 1.0f);
    s1 += gh;
    s2 += gh * (x[off + j] - mu) * rs;
  }
  s1 = block_sum(s1) / d;
  s2 = block_sum(s2) / d;
  for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
    const float gh = g[off + j] * (w ? w[j] : 1.0f);
    dx[off + j] = rs * (gh - s1 - (x[off + j] - mu) * rs * s2);
  }
}

// dw[j] = sum_rows g xhat, db[j] = sum_rows g: one thread per column (coalesced across columns),
// blockIdx.y picks a piece of the rows; piece p writes row p of dw/db [pieces, d].
// mean == nullptr selects RMS norm (xhat = x rstd).
// T: the type of g and x (float or bf16); dw, db are f32 partial sums.
template <class T>
__global__ void norm_param_grad_kernel(const T* g, const T* x, const float* mean, const float* rstd, float* dw, float* db,
                                       int64_t rows, int64_t d, Pieces pieces) {
  const int64_t begin = blockIdx.y * pieces.length, end = min(rows, begin + pieces.length);
  dw = dw ? dw + blockIdx.y * d : nullptr;
  db = db ? db + blockIdx.y * d : nullptr;
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < d; j += int64_t(blockDim.x) * gridDim.x) {
    float sw = 0, sb = 0;
    for (int64_t r = begin; r < end; ++r) {
      const float xh = (load_f32(x[r * d + j]) - (mean ? mean[r] : 0.0f)) * rstd[r];
      sw += load_f32(g[r * d + j]) * xh;
      sb += load_f32(g[r * d + j]);
    }
    if (dw) dw[j] = sw;
    if (db) db[j] = sb;
  }
}

template <class T>
__global__ void rms_norm_kernel(const T* x, const T* w, float eps, T* y, float* rstd, int64_t d) {
  const T* a = x + blockIdx.x * d;
  float s = 0;
  for (int64_t j = threadIdx.x; j < d; j += blockDim.x) s += load_f32(a[j]) * load_f32(a[j]);
  const float rs = rsqrtf(block_sum(s) / d + eps);
  if (threadIdx.x == 0) rstd[blockIdx.x] = rs;
  for (int64_t j = threadIdx.x; j < d; j += blockDim.x)
    y[blockIdx.x * d + j] = store_as<T>(load_f32(a[j]) * rs * (w ? load_f32(w[j]) : 1.0f));
}

// The same norm for rows that come in 16-byte packs (d a multiple of 4 in f32, of 8 in bf16): the
// block's threads cover the row in one pass, each loading its packs of x (at most kMaxPacks) and of
// w once into registers before the sum. A streaming step norms one row of 4096 a layer; the kernel
// above walks it with 256 threads, 16 dependent passes of loads twice over, and took most of its
// time waiting on them (docs/performance.md, "Streaming generation").
constexpr int kMaxPacks = 4;

template <class T>
__global__ void __launch_bounds__(1024) rms_norm_packed_kernel(const T* x, const T* w, float eps, T* y, float* rstd, int d) {
  constexpr int P = 16 / static_cast<int>(sizeof(T));
  const int packs = d / P;
  const uint4* row = reinterpret_cast<const uint4*>(x + blockIdx.x * static_cast<int64_t>(d));
  uint4 held[kMaxPacks], scale[kMaxPacks];
  float s = 0;
  for (int u = 0; u < kMaxPacks; ++u) {
    const int p = threadIdx.x + u * blockDim.x;
    if (p >= packs) continue;  // (continue, not break: the loop unrolls and held stays in registers)
    held[u] = row[p];
    if (w) scale[u] = reinterpret_cast<const uint4*>(w)[p];
    const T* e = reinterpret_cast<const T*>(&held[u]);
    for (int i = 0; i < P; ++i) s += load_f32(e[i]) * load_f32(e[i]);
  }
  const float rs = rsqrtf(block_sum(s) / d + eps);
  if (threadIdx.x == 0) rstd[blockIdx.x] = rs;
  uint4* out = reinterpret_cast<uint4*>(y + blockIdx.x * static_cast<int64_t>(d));
  for (int u = 0; u < kMaxPacks; ++u) {
    const int p = threadIdx.x + u * blockDim.x;
    if (p >= packs) continue;
    const T* e = reinterpret_cast<const T*>(&held[u]);
    const T* we = reinterpret_cast<const T*>(&scale[u]);
    uint4 result;
    T* r = reinterpret_cast<T*>(&result);
    for (int i = 0; i < P; ++i) r[i] = store_as<T>(load_f32(e[i]) * rs * (w ? load_f32(we[i]) : 1.0f));
    out[p] = result;
  }
}

// dx = rstd (gh - xhat mean(gh xhat)), gh = g w, xhat = x rstd
template <class T>
__global__ void rms_norm_backward_kernel(const T* g, const T* x, const T* w, const float* rstd, T* dx, int64_t d) {
  const int64_t off = blockIdx.x * d;
  const float rs = rstd[blockIdx.x];
  float s = 0;
  for (int64_t j = threadIdx.x; j < d; j += blockDim.x)
    s += load_f32(g[off + j]) * (w ? load_f32(w[j]) : 1.0f) * load_f32(x[off + j]) * rs;
  s = block_sum(s) / d;
  for (int64_t j = threadIdx.x; j < d; j += blockDim.x)
    dx[off + j] = store_as<T>(rs * (load_f32(g[off + j]) * (w ? load_f32(w[j]) : 1.0f) - load_f32(x[off + j]) * rs * s));
}

// The weight (and bias) gradients of a norm over x [rows, d]: partial sums over pieces of the rows,
// then a sum over the pieces (see Pieces).
void norm_param_grads(const Tensor& grad, const Tensor& x, const float* mean, const Tensor& rstd, const Tensor& grad_weight,
                      const Tensor& grad_bias) {
  const int64_t rows = rows_of(x), d = x.size(-1);
  const Pieces pieces = cut(rows, (kFillThreads + d - 1) / d, 32);
  // f32 partial sums: written in place when there is one piece and the gradient is f32
  auto partial = [&](const Tensor& g) {
    return !g.defined() || (pieces.count == 1 && g.dtype() == DType::f32) ? g : empty({pieces.count, d}, DType::f32, x.device());
  };
  Tensor pw = partial(grad_weight), pb = partial(grad_bias);
  dispatch_f32_bf16(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    norm_param_grad_kernel<T><<<dim3(grid_for(d), static_cast<unsigned>(pieces.count)), kBlock, 0, current_stream()>>>(
        grad.data<T>(), x.data<T>(), mean, rstd.data<float>(), opt_mut(pw), opt_mut(pb), rows, d, pieces);
  });
  TTT_CUDA_CHECK_LAUNCH();
  if (pw.is_same(grad_weight) && pb.is_same(grad_bias)) return;  // written in place
  if (grad_weight.defined() && !pw.is_same(grad_weight)) reduce(ReduceOp::sum, pw, grad_weight, DimView{1, pieces.count, d});
  if (grad_bias.defined() && !pb.is_same(grad_bias)) reduce(ReduceOp::sum, pb, grad_bias, DimView{1, pieces.count, d});
}

}  // namespace

void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y, const Tensor& mean,
                const Tensor& rstd) {
  layer_norm_kernel<<<rows_of(x), kBlock, 0, current_stream()>>>(
      x.data<float>(), opt(weight), opt(bias), float(eps), y.data<float>(), mean.data<float>(), rstd.data<float>(), x.size(-1));
  TTT_CUDA_CHECK_LAUNCH();
}

void layer_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& rstd,
                         const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias) {
  const int64_t d = x.size(-1);
  layer_norm_backward_kernel<<<rows_of(x), kBlock, 0, current_stream()>>>(
      grad.data<float>(), x.data<float>(), opt(weight), mean.data<float>(), rstd.data<float>(), grad_x.data<float>(), d);
  TTT_CUDA_CHECK_LAUNCH();
  if (grad_weight.defined() || grad_bias.defined()) norm_param_grads(grad, x, mean.data<float>(), rstd, grad_weight, grad_bias);
}

void rms_norm(const Tensor& x, const Tensor& weight, double eps, const Tensor& y, const Tensor& rstd) {
  dispatch_f32_bf16(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t d = x.size(-1), P = 16 / sizeof(T), packs = d / P;
    const T* w = weight.defined() ? weight.data<T>() : nullptr;
    if (d > 0 && d % P == 0 && packs <= 1024 * kMaxPacks && aligned16(x.data<T>()) && aligned16(y.data<T>()) &&
        (!w || aligned16(w))) {
      const int64_t threads = std::min<int64_t>(1024, (packs + 31) / 32 * 32);
      rms_norm_packed_kernel<T><<<rows_of(x), static_cast<unsigned>(threads), 0, current_stream()>>>(
          x.data<T>(), w, float(eps), y.data<T>(), rstd.data<float>(), static_cast<int>(d));
      return;
    }
    rms_norm_kernel<T><<<rows_of(x), kBlock, 0, current_stream()>>>(x.data<T>(), weight.defined() ? weight.data<T>() : nullptr,
                                                                    float(eps), y.data<T>(), rstd.data<float>(), x.size(-1));
  });
  TTT_CUDA_CHECK_LAUNCH();
}

void rms_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, const Tensor& rstd, const Tensor& grad_x,
                       const Tensor& grad_weight) {
  const int64_t d = x.size(-1);
  dispatch_f32_bf16(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    rms_norm_backward_kernel<T><<<rows_of(x), kBlock, 0, current_stream()>>>(
        grad.data<T>(), x.data<T>(), weight.defined() ? weight.data<T>() : nullptr, rstd.data<float>(), grad_x.data<T>(), d);
  });
  TTT_CUDA_CHECK_LAUNCH();
  if (grad_weight.defined()) norm_param_grads(grad, x, nullptr, rstd, grad_weight, Tensor());
}

// ---- the TTT layer's row norms ----
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

// E10, a warp per row (formulas: core/cpu/norms.cpp).
__global__ void ln_l2_grad_kernel(const float* z, const float* target, const float* weight, const float* bias, float eps,
                                  float* g, float* mean, float* rstd, int64_t rows, int64_t len, int64_t heads, int64_t d) {
  const int64_t r = warp_row(rows);
  if (r < 0) return;
  const int lane = threadIdx.x % 32;
  const int64_t o = r * d;
  const float *w = weight + (r / len) % heads * d, *b = bias + (r / len) % heads * d;
  float s = 0;
  for (int64_t j = lane; j < d; j += 32) s += z[o + j];
  const float mu = warp_sum(s) / d;
  float v = 0;
  for (int64_t j = lane; j < d; j += 32) v += (z[o + j] - mu) * (z[o + j] - mu);
  const float rs = rsqrtf(warp_sum(v) / d + eps);
  float s1 = 0, s2 = 0;
  for (int64_t j = lane; j < d; j += 32) {
    const float xh = (z[o + j] - mu) * rs, gy = (w[j] * xh + b[j] - target[o + j]) * w[j];
    s1 += gy, s2 += gy * xh;
  }
  const float mean_gy = warp_sum(s1) / d, mean_gyx = warp_sum(s2) / d;
  for (int64_t j = lane; j < d; j += 32) {
    const float xh = (z[o + j] - mu) * rs, gy = (w[j] * xh + b[j] - target[o + j]) * w[j];
    g[o + j] = (gy - mean_gy - xh * mean_gyx) * rs;
  }
  if (lane == 0) mean[r] = mu, rstd[r] = rs;
}

__global__ void ln_l2_grad_backward_kernel(const float* dg, const float* z, const float* target, const float* weight,
                                           const float* bias, const float* g, const float* mean, const float* rstd, float* dz,
                                           float* dtarget, float* dw, float* db, int64_t rows, int64_t len, int64_t heads,
                                           int64_t d) {
  const int64_t r = warp_row(rows);
  if (r < 0) return;
  const int lane = threadIdx.x % 32;
  const int64_t o = r * d;
  const float *w = weight + (r / len) % heads * d, *b = bias + (r / len) % heads * d;
  const float mu = mean[r], rs = rstd[r];
  float c = 0, mean_u = 0, mean_ux = 0, u_dot_g = 0;
  for (int64_t j = lane; j < d; j += 32) {
    const float xh = (z[o + j] - mu) * rs, gy = (w[j] * xh + b[j] - target[o + j]) * w[j], u = dg[o + j] * rs;
    c += xh * gy, mean_u += u, mean_ux += u * xh, u_dot_g += u * g[o + j];
  }
  c = warp_sum(c) / d, mean_u = warp_sum(mean_u) / d, mean_ux = warp_sum(mean_ux) / d, u_dot_g = warp_sum(u_dot_g);
  float mean_dx = 0, mean_dxx = 0;
  for (int64_t j = lane; j < d; j += 32) {
    const float xh = (z[o + j] - mu) * rs, resid = w[j] * xh + b[j] - target[o + j], u = dg[o + j] * rs;
    const float dgy = u - mean_u - xh * mean_ux, dxh = w[j] * w[j] * dgy - c * u - mean_ux * resid * w[j];
    mean_dx += dxh, mean_dxx += dxh * xh;
    dz[o + j] = dxh;  // finished below
    if (dtarget) dtarget[o + j] = -w[j] * dgy;
    if (dw) dw[o + j] = dgy * (2.0f * w[j] * xh + b[j] - target[o + j]);
    if (db) db[o + j] = dgy * w[j];
  }
  mean_dx = warp_sum(mean_dx) / d, mean_dxx = warp_sum(mean_dxx) / d;
  __syncwarp();
  for (int64_t j = lane; j < d; j += 32) {
    const float xh = (z[o + j] - mu) * rs;
    dz[o + j] = rs * (dz[o + j] - mean_dx - xh * mean_dxx) - xh * u_dot_g / d;
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

void ln_l2_grad(const Tensor& z, const Tensor& target, const Tensor& weight, const Tensor& bias, double eps, const Tensor& g,
                const Tensor& mean, const Tensor& rstd) {
  const int64_t rows = rows_in(z);
  ln_l2_grad_kernel<<<blocks_for_rows(rows), kBlock, 0, current_stream()>>>(
      z.data<float>(), target.data<float>(), weight.data<float>(), bias.data<float>(), float(eps), g.data<float>(),
      mean.data<float>(), rstd.data<float>(), rows, z.size(-2), z.size(-3), z.size(-1));
  TTT_CUDA_CHECK_LAUNCH();
}

void ln_l2_grad_backward(const Tensor& grad, const Tensor& z, const Tensor& target, const Tensor& weight, const Tensor& bias,
                         const Tensor& g, const Tensor& mean, const Tensor& rstd, const Tensor& grad_z, const Tensor& grad_target,
                         const Tensor& grad_weight_rows, const Tensor& grad_bias_rows) {
  const int64_t rows = rows_in(z);
  auto opt = [](const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; };
  ln_l2_grad_backward_kernel<<<blocks_for_rows(rows), kBlock, 0, current_stream()>>>(
      grad.data<float>(), z.data<float>(), target.data<float>(), weight.data<float>(), bias.data<float>(), g.data<float>(),
      mean.data<float>(), rstd.data<float>(), grad_z.data<float>(), opt(grad_target), opt(grad_weight_rows), opt(grad_bias_rows),
      rows, z.size(-2), z.size(-3), z.size(-1));
  TTT_CUDA_CHECK_LAUNCH();
}

}  // namespace ttt::cuda
