// CUDA kernels that reduce: sum/max along a dim, softmax, layer/RMS norm, cross-entropy.
// Row kernels use one block per row and block-wide reductions (block_reduce.cuh).
#include <algorithm>

#include "core/backend.h"
#include "core/cuda/bf16.cuh"
#include "core/cuda/block_reduce.cuh"
#include "core/cuda/cuda_check.h"

namespace ttt::cuda {

namespace {

__device__ __forceinline__ int64_t index_at(const void* p, bool is_i32, int64_t i) {
  return is_i32 ? static_cast<const int32_t*>(p)[i] : static_cast<const int64_t*>(p)[i];
}

// A reduction with few outputs (a whole-tensor sum, a bias gradient: 768 sums of 8192 rows) would
// leave most of the GPU idle with one block or thread per output. The reduced dim is then cut into
// `pieces` that reduce in parallel into partial results [outer, pieces, inner], and a second pass
// reduces the partials: two passes, no atomics, so the result does not depend on timing.
constexpr int64_t kFillThreads = 132 * 2048;  // enough resident threads to fill an H100
constexpr int64_t kFillBlocks = 132 * 8;

struct Pieces {
  int64_t count = 1, length = 0;  // `count` runs of `length` (the last may be shorter)
};

// Cuts `dim` into at most `want` pieces of at least `min_length`. An empty dim is one empty piece.
Pieces cut(int64_t dim, int64_t want, int64_t min_length) {
  Pieces p;
  if (dim <= 0) return p;
  p.count = std::max<int64_t>(1, std::min({want, (dim + min_length - 1) / min_length, int64_t{65535}}));
  p.length = (dim + p.count - 1) / p.count;
  p.count = (dim + p.length - 1) / p.length;  // no empty piece
  return p;
}

// inner == 1: block b reduces piece (b % pieces) of row (b / pieces); the threads split the piece.
// TI, TO: float or bf16 (core/cuda/bf16.cuh), the sums in f32; partial results are always f32.
template <class TI, class TO>
__global__ void reduce_rows_kernel(ReduceOp op, const TI* x, TO* out, int64_t r, Pieces pieces) {
  const int64_t row = blockIdx.x / pieces.count, piece = blockIdx.x % pieces.count;
  const TI* p = x + row * r;
  const int64_t end = min(r, (piece + 1) * pieces.length);
  float acc = op == ReduceOp::sum ? 0.0f : -INFINITY;
  for (int64_t j = piece * pieces.length + threadIdx.x; j < end; j += blockDim.x)
    acc = op == ReduceOp::sum ? acc + load_f32(p[j]) : fmaxf(acc, load_f32(p[j]));
  acc = op == ReduceOp::sum ? block_sum(acc) : block_max(acc);
  if (threadIdx.x == 0) out[blockIdx.x] = store_as<TO>(acc);
}

// inner > 1: one thread per (o, piece, i); neighbouring threads read neighbouring addresses.
template <class TI, class TO>
__global__ void reduce_strided_kernel(ReduceOp op, const TI* x, TO* out, DimView v, Pieces pieces) {
  const int64_t n = v.outer * pieces.count * v.inner;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < n; t += int64_t(blockDim.x) * gridDim.x) {
    const int64_t i = t % v.inner, q = t / v.inner, piece = q % pieces.count, o = q / pieces.count;
    const TI* p = x + o * v.dim * v.inner + i;
    const int64_t end = min(v.dim, (piece + 1) * pieces.length);
    float acc = op == ReduceOp::sum ? 0.0f : -INFINITY;
    for (int64_t j = piece * pieces.length; j < end; ++j)
      acc = op == ReduceOp::sum ? acc + load_f32(p[j * v.inner]) : fmaxf(acc, load_f32(p[j * v.inner]));
    out[t] = store_as<TO>(acc);
  }
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

const float* opt(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }
float* opt_mut(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }
unsigned rows_of(const Tensor& x) { return static_cast<unsigned>(x.numel() / x.size(-1)); }

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

void reduce(ReduceOp op, const Tensor& x, const Tensor& out, const DimView& v) {
  // rows: pieces of at least 4096 elements (16 per thread); columns: of at least 32 rows
  const Pieces pieces = v.inner == 1 ? cut(v.dim, (kFillBlocks + v.outer - 1) / v.outer, 4096)
                                     : cut(v.dim, (kFillThreads + v.outer * v.inner - 1) / (v.outer * v.inner), 32);
  Tensor partial = pieces.count == 1 ? out : empty({v.outer, pieces.count, v.inner}, DType::f32, x.device());
  dispatch_f32_bf16(x.dtype(), [&](auto in_tag) {
    dispatch_f32_bf16(partial.dtype(), [&](auto out_tag) {
      using TI = decltype(in_tag);
      using TO = decltype(out_tag);
      if (v.inner == 1)
        reduce_rows_kernel<TI, TO><<<static_cast<unsigned>(v.outer * pieces.count), kBlock, 0, current_stream()>>>(
            op, x.data<TI>(), partial.data<TO>(), v.dim, pieces);
      else
        reduce_strided_kernel<TI, TO><<<grid_for(v.outer * pieces.count * v.inner), kBlock, 0, current_stream()>>>(
            op, x.data<TI>(), partial.data<TO>(), v, pieces);
    });
  });
  TTT_CUDA_CHECK_LAUNCH();
  if (pieces.count > 1) reduce(op, partial, out, DimView{v.outer, pieces.count, v.inner});
}

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
