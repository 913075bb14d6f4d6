// CUDA kernels: fill, dtype conversion, unary and broadcasting binary ops, Philox random fills.
// Formulas come from core/scalar_math.h and core/philox.h, shared with the CPU backend.
#include "core/backend.h"
#include "core/cuda/bf16.cuh"
#include "core/cuda/cuda_check.h"
#include "core/cuda/grid_stride.cuh"
#include "core/dtype_dispatch.h"
#include "core/philox.h"
#include "core/scalar_math.h"

namespace ttt::cuda {

namespace {

// 16 bytes of T, what one thread loads and stores at once where the data allows (4 floats, 8 bf16):
// a quarter (an eighth) of the memory instructions of one element per thread.
template <class T>
struct alignas(16) Pack {
  static constexpr int kSize = 16 / static_cast<int>(sizeof(T));
  T v[kSize];
};

template <class T>
__global__ void fill_kernel(T* out, T value, int64_t n) {
  GRID_STRIDE_LOOP(i, n) out[i] = value;
}

template <class T>
__global__ void fill_packed_kernel(Pack<T>* out, T value, uint32_t packs) {
  Pack<T> v;
#pragma unroll
  for (int k = 0; k < Pack<T>::kSize; ++k) v.v[k] = value;
  GRID_STRIDE_LOOP_32(i, packs) out[i] = v;
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
__global__ void unary_packed_kernel(UnaryOp op, const Pack<T>* x, Pack<T>* out, float a, float b, uint32_t packs) {
  GRID_STRIDE_LOOP_32(i, packs) {
    const Pack<T> in = x[i];
    Pack<T> o;
#pragma unroll
    for (int k = 0; k < Pack<T>::kSize; ++k) o.v[k] = store_as<T>(math::unary<float>(op, load_f32(in.v[k]), a, b));
    out[i] = o;
  }
}

// out = v, or out += v when accumulating (BroadcastArgs::accumulate)
template <class T>
__device__ __forceinline__ void put(T& out, float v, bool acc) {
  out = store_as<T>(acc ? load_f32(out) + v : v);
}

template <class T>
__global__ void binary_same_kernel(BinaryOp op, const T* x, const T* y, T* out, int64_t n, bool acc) {
  GRID_STRIDE_LOOP(i, n) put(out[i], math::binary<float>(op, load_f32(x[i]), load_f32(y[i])), acc);
}

template <class T>
__global__ void binary_same_packed_kernel(BinaryOp op, const Pack<T>* x, const Pack<T>* y, Pack<T>* out, uint32_t packs,
                                          bool acc) {
  GRID_STRIDE_LOOP_32(i, packs) {
    const Pack<T> a = x[i], b = y[i];
    Pack<T> o;
    if (acc) o = out[i];
#pragma unroll
    for (int k = 0; k < Pack<T>::kSize; ++k) put(o.v[k], math::binary<float>(op, load_f32(a.v[k]), load_f32(b.v[k])), acc);
    out[i] = o;
  }
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
    put(out[i], math::binary<float>(op, load_f32(x[ia]), load_f32(y[ib])), args.accumulate);
  }
}

// The same in 32 bits, P consecutive outputs per thread (P divides the innermost dim, in which each
// input either runs with stride 1, loaded as a Pack, or stays, one value for all P).
template <class T, int P>
__global__ void binary_broadcast_32_kernel(BinaryOp op, const T* x, const T* y, T* out, BroadcastArgs args) {
  const int inner = args.rank - 1;
  const bool x_runs = args.stride_a[inner] != 0, y_runs = args.stride_b[inner] != 0;
  GRID_STRIDE_LOOP_32(p, static_cast<uint32_t>(args.numel / P)) {
    uint32_t rest = p * P, ia = 0, ib = 0;
    for (int d = inner; d >= 0; --d) {
      const uint32_t extent = static_cast<uint32_t>(args.shape[d]), idx = rest % extent;
      rest /= extent;
      ia += idx * static_cast<uint32_t>(args.stride_a[d]);
      ib += idx * static_cast<uint32_t>(args.stride_b[d]);
    }
    if constexpr (P == 1) {
      put(out[p], math::binary<float>(op, load_f32(x[ia]), load_f32(y[ib])), args.accumulate);
    } else {
      Pack<T> a, b, o;
      if (args.accumulate) o = reinterpret_cast<const Pack<T>*>(out)[p];
      if (x_runs)
        a = *reinterpret_cast<const Pack<T>*>(x + ia);
      else
        for (int k = 0; k < P; ++k) a.v[k] = x[ia];
      if (y_runs)
        b = *reinterpret_cast<const Pack<T>*>(y + ib);
      else
        for (int k = 0; k < P; ++k) b.v[k] = y[ib];
#pragma unroll
      for (int k = 0; k < P; ++k) put(o.v[k], math::binary<float>(op, load_f32(a.v[k]), load_f32(b.v[k])), args.accumulate);
      reinterpret_cast<Pack<T>*>(out)[p] = o;
    }
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
    constexpr int P = Pack<T>::kSize;
    T* p = static_cast<T*>(out.raw_data());
    if (n % P == 0 && n < kMax32 && aligned16(p))
      fill_packed_kernel<T><<<grid_for(n / P), kBlock, 0, current_stream()>>>(
          reinterpret_cast<Pack<T>*>(p), static_cast<T>(value), static_cast<uint32_t>(n / P));
    else
      fill_kernel<T><<<grid_for(n), kBlock, 0, current_stream()>>>(p, static_cast<T>(value), n);
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
    constexpr int P = Pack<T>::kSize;
    if (n % P == 0 && n < kMax32 && aligned16(x.raw_data()) && aligned16(out.raw_data()))
      unary_packed_kernel<T><<<grid_for(n / P), kBlock, 0, current_stream()>>>(op, reinterpret_cast<const Pack<T>*>(x.data<T>()),
                                                                               reinterpret_cast<Pack<T>*>(out.data<T>()),
                                                                               float(a), float(b), static_cast<uint32_t>(n / P));
    else
      unary_kernel<T><<<grid_for(n), kBlock, 0, current_stream()>>>(op, x.data<T>(), out.data<T>(), float(a), float(b), n);
  });
  TTT_CUDA_CHECK_LAUNCH();
}

void binary(BinaryOp op, const Tensor& x, const Tensor& y, const Tensor& out, const BroadcastArgs& args) {
  const int64_t n = args.numel;
  const bool aligned = aligned16(x.raw_data()) && aligned16(y.raw_data()) && aligned16(out.raw_data());
  dispatch_f32_bf16(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    constexpr int P = Pack<T>::kSize;
    const T *px = x.data<T>(), *py = y.data<T>();
    T* po = out.data<T>();
    if (args.same_shape && n % P == 0 && n < kMax32 && aligned) {
      binary_same_packed_kernel<T><<<grid_for(n / P), kBlock, 0, current_stream()>>>(
          op, reinterpret_cast<const Pack<T>*>(px), reinterpret_cast<const Pack<T>*>(py), reinterpret_cast<Pack<T>*>(po),
          static_cast<uint32_t>(n / P), args.accumulate);
    } else if (args.same_shape) {
      binary_same_kernel<T><<<grid_for(n), kBlock, 0, current_stream()>>>(op, px, py, po, n, args.accumulate);
    } else if (n < kMax32 && args.rank > 0) {
      // each input's innermost stride is 1 (it runs) or 0 (it stays): P outputs per thread
      const int inner = args.rank - 1;
      const bool packable = aligned && args.shape[inner] % P == 0 && args.stride_a[inner] <= 1 && args.stride_b[inner] <= 1;
      if (packable)
        binary_broadcast_32_kernel<T, P><<<grid_for(n / P), kBlock, 0, current_stream()>>>(op, px, py, po, args);
      else
        binary_broadcast_32_kernel<T, 1><<<grid_for(n), kBlock, 0, current_stream()>>>(op, px, py, po, args);
    } else {
      binary_broadcast_kernel<T><<<grid_for(n), kBlock, 0, current_stream()>>>(op, px, py, po, args);
    }
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
