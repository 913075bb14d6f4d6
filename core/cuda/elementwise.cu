// CUDA kernels: fill, dtype conversion, unary and broadcasting binary ops, Philox random fills.
// Formulas come from core/scalar_math.h and core/philox.h, shared with the CPU backend.
#include "core/backend.h"
#include "core/cuda/bf16.cuh"
#include "core/cuda/cuda_check.h"
#include "core/dtype_dispatch.h"
#include "core/philox.h"
#include "core/scalar_math.h"

namespace ttt::cuda {

namespace {

#define GRID_STRIDE_LOOP(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(blockDim.x) * gridDim.x)

template <class T>
__global__ void fill_kernel(T* out, T value, int64_t n) {
  GRID_STRIDE_LOOP(i, n) out[i] = value;
}

template <class S, class D>
__global__ void cast_kernel(const S* in, D* out, int64_t n) {
  GRID_STRIDE_LOOP(i, n) out[i] = static_cast<D>(in[i]);
}

// T: float or bf16, computed in f32 (core/cuda/bf16.cuh); likewise below.
template <class T>
__global__ void unary_kernel(UnaryOp op, const T* x, T* out, float a, float b, int64_t n) {
  GRID_STRIDE_LOOP(i, n) out[i] = store_as<T>(math::unary<float>(op, load_f32(x[i]), a, b));
}

template <class T>
__global__ void binary_same_kernel(BinaryOp op, const T* x, const T* y, T* out, int64_t n) {
  GRID_STRIDE_LOOP(i, n) out[i] = store_as<T>(math::binary<float>(op, load_f32(x[i]), load_f32(y[i])));
}

// Decomposes the output index into the (merged) dims to find each input's element.
template <class T>
__global__ void binary_broadcast_kernel(BinaryOp op, const T* x, const T* y, T* out, BroadcastArgs args) {
  GRID_STRIDE_LOOP(i, args.numel) {
    int64_t rest = i, ia = 0, ib = 0;
    for (int d = args.rank - 1; d >= 0; --d) {
      const int64_t idx = rest % args.shape[d];
      rest /= args.shape[d];
      ia += idx * args.stride_a[d];
      ib += idx * args.stride_b[d];
    }
    out[i] = store_as<T>(math::binary<float>(op, load_f32(x[ia]), load_f32(y[ib])));
  }
}

// One thread per output (row r, column j of h): reads x[r, j] and x[r, h + j].
template <class T>
__global__ void swiglu_kernel(const T* x, T* y, int64_t h, int64_t n) {
  GRID_STRIDE_LOOP(i, n) {
    const int64_t r = i / h, j = i % h;
    y[i] = store_as<T>(math::swiglu<float>(load_f32(x[r * 2 * h + j]), load_f32(x[r * 2 * h + h + j])));
  }
}

template <class T>
__global__ void swiglu_backward_kernel(const T* g, const T* x, T* dx, int64_t h, int64_t n) {
  GRID_STRIDE_LOOP(i, n) {
    const int64_t a = i / h * 2 * h + i % h;
    float da, db;
    math::swiglu_grads<float>(load_f32(x[a]), load_f32(x[a + h]), load_f32(g[i]), da, db);
    dx[a] = store_as<T>(da);
    dx[a + h] = store_as<T>(db);
  }
}

__global__ void normal_kernel(float* out, int64_t n, uint64_t seed, uint64_t offset) {
  GRID_STRIDE_LOOP(i, n) out[i] = static_cast<float>(philox::normal(offset + i, seed));
}

__global__ void uniform_kernel(float* out, int64_t n, uint64_t seed, uint64_t offset) {
  GRID_STRIDE_LOOP(i, n) out[i] = static_cast<float>(philox::uniform(offset + i, seed));
}

}  // namespace

void fill(const Tensor& out, double value) {
  const int64_t n = out.numel();
  dispatch_any(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    fill_kernel<T><<<grid_for(n), kBlock, 0, current_stream()>>>(static_cast<T*>(out.raw_data()), static_cast<T>(value), n);
  });
  TTT_CUDA_CHECK_LAUNCH();
}

void cast(const Tensor& in, const Tensor& out) {
  const int64_t n = in.numel();
  dispatch_any(in.dtype(), [&](auto s) {
    dispatch_any(out.dtype(), [&](auto d) {
      using S = decltype(s);
      using D = decltype(d);
      cast_kernel<S, D><<<grid_for(n), kBlock, 0, current_stream()>>>(static_cast<const S*>(in.raw_data()),
                                                                      static_cast<D*>(out.raw_data()), n);
    });
  });
  TTT_CUDA_CHECK_LAUNCH();
}

void unary(UnaryOp op, const Tensor& x, const Tensor& out, double a, double b) {
  const int64_t n = x.numel();
  dispatch_f32_bf16(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    unary_kernel<T><<<grid_for(n), kBlock, 0, current_stream()>>>(op, x.data<T>(), out.data<T>(), float(a), float(b), n);
  });
  TTT_CUDA_CHECK_LAUNCH();
}

void binary(BinaryOp op, const Tensor& x, const Tensor& y, const Tensor& out, const BroadcastArgs& args) {
  dispatch_f32_bf16(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (args.same_shape)
      binary_same_kernel<T>
          <<<grid_for(args.numel), kBlock, 0, current_stream()>>>(op, x.data<T>(), y.data<T>(), out.data<T>(), args.numel);
    else
      binary_broadcast_kernel<T>
          <<<grid_for(args.numel), kBlock, 0, current_stream()>>>(op, x.data<T>(), y.data<T>(), out.data<T>(), args);
  });
  TTT_CUDA_CHECK_LAUNCH();
}

void swiglu(const Tensor& x, const Tensor& y) {
  const int64_t n = y.numel();
  dispatch_f32_bf16(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    swiglu_kernel<T><<<grid_for(n), kBlock, 0, current_stream()>>>(x.data<T>(), y.data<T>(), y.size(-1), n);
  });
  TTT_CUDA_CHECK_LAUNCH();
}

void swiglu_backward(const Tensor& grad, const Tensor& x, const Tensor& grad_x) {
  const int64_t n = grad.numel();
  dispatch_f32_bf16(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    swiglu_backward_kernel<T>
        <<<grid_for(n), kBlock, 0, current_stream()>>>(grad.data<T>(), x.data<T>(), grad_x.data<T>(), grad.size(-1), n);
  });
  TTT_CUDA_CHECK_LAUNCH();
}

void random_normal(const Tensor& out, uint64_t seed, uint64_t offset) {
  normal_kernel<<<grid_for(out.numel()), kBlock, 0, current_stream()>>>(out.data<float>(), out.numel(), seed, offset);
  TTT_CUDA_CHECK_LAUNCH();
}

void random_uniform(const Tensor& out, uint64_t seed, uint64_t offset) {
  uniform_kernel<<<grid_for(out.numel()), kBlock, 0, current_stream()>>>(out.data<float>(), out.numel(), seed, offset);
  TTT_CUDA_CHECK_LAUNCH();
}

}  // namespace ttt::cuda
