// CUDA kernels that move elements: gather (permute/expand), block copies (slice/cat), flip,
// triangular masks, embedding lookup and scatter-add, rotary embeddings.
#include <algorithm>
#include <cmath>

#include "core/backend.h"
#include "core/cuda/bf16.cuh"
#include "core/cuda/cuda_check.h"
#include "core/cuda/grid_stride.cuh"
#include "core/dtype_dispatch.h"

namespace ttt::cuda {

namespace {

__device__ __forceinline__ int64_t index_at(const void* p, bool is_i32, int64_t i) {
  return is_i32 ? static_cast<const int32_t*>(p)[i] : static_cast<const int64_t*>(p)[i];
}

// The kernels that move elements in bulk come in three forms: 64-bit indices; 32-bit indices
// where every index fits (core/cuda/grid_stride.cuh); and, when the innermost dim runs
// contiguously on both sides in whole 16-byte pieces, P elements (16 bytes) per thread.

template <class T, class Index, int P>
__global__ void gather_kernel(const T* in, T* out, GatherArgs a) {
  GRID_STRIDE_LOOP_AS(Index, p, static_cast<Index>(a.numel / P)) {
    Index rest = p * P, s = 0;
    for (int d = a.rank - 1; d >= 0; --d) {
      const Index extent = static_cast<Index>(a.out_shape[d]);
      s += (rest % extent) * static_cast<Index>(a.in_stride[d]);
      rest /= extent;
    }
    if constexpr (P == 1)
      out[p] = in[s];
    else
      reinterpret_cast<uint4*>(out)[p] = *reinterpret_cast<const uint4*>(in + s);
  }
}

// Rows of `inner` elements (P at a time) from [outer, src_dim, inner] to [outer, dst_dim, inner].
template <class T, class Index, int P>
__global__ void copy_block_kernel(const T* src, T* dst, BlockCopyArgs a) {
  const Index inner = static_cast<Index>(a.inner / P), count = static_cast<Index>(a.count);
  GRID_STRIDE_LOOP_AS(Index, t, static_cast<Index>(a.outer) * count * inner) {
    const Index i = t % inner, j = (t / inner) % count, o = t / (inner * count);
    const Index from = (o * static_cast<Index>(a.src_dim) + static_cast<Index>(a.src_start) + j) * inner + i;
    const Index to = (o * static_cast<Index>(a.dst_dim) + static_cast<Index>(a.dst_start) + j) * inner + i;
    if constexpr (P == 1)
      dst[to] = src[from];
    else
      reinterpret_cast<uint4*>(dst)[to] = reinterpret_cast<const uint4*>(src)[from];
  }
}

template <class T>
__global__ void flip_kernel(const T* src, T* dst, DimView v) {
  const int64_t n = v.outer * v.dim * v.inner;
  GRID_STRIDE_LOOP(t, n) {
    const int64_t i = t % v.inner, j = (t / v.inner) % v.dim, o = t / (v.inner * v.dim);
    dst[t] = src[(o * v.dim + (v.dim - 1 - j)) * v.inner + i];
  }
}

__global__ void tri_kernel(const float* x, float* out, int64_t rows, int64_t cols, int64_t k, bool lower, int64_t n) {
  GRID_STRIDE_LOOP(t, n) {
    const int64_t c = t % cols, r = (t / cols) % rows;
    const bool keep = lower ? (c - r <= k) : (c - r >= k);
    out[t] = keep ? x[t] : 0.0f;
  }
}

// kNoToken (-1) gives a zero row; any other id outside [0, vocab) a NaN row (the host checks ids
// first, except during a CUDA graph capture: compute::embedding), never a read outside the table.
// T: float or bf16 (a table stored in bf16 is read as it is: a copy of it in f32 would move the
// whole table for every lookup).
template <class T>
__global__ void embedding_kernel(const T* w, const void* ids, bool i32, T* out, int64_t n, int64_t d, int64_t vocab) {
  GRID_STRIDE_LOOP(t, n * d) {
    const int64_t row = t / d, j = t % d, id = index_at(ids, i32, row);
    out[t] = id >= 0 && id < vocab ? w[id * d + j] : store_as<T>(id == kNoToken ? 0.0f : NAN);
  }
}

// Several positions may hold the same id: atomic adds (order, hence rounding, may vary).
__global__ void embedding_backward_kernel(const float* g, const void* ids, bool i32, float* gw, int64_t n, int64_t d,
                                          int64_t vocab) {
  GRID_STRIDE_LOOP(t, n * d) {
    const int64_t row = t / d, j = t % d, id = index_at(ids, i32, row);
    if (id >= 0 && id < vocab) atomicAdd(&gw[id * d + j], g[t]);
  }
}

// One thread per pair; the angle is computed in double (as on the CPU) because pos * freq can
// reach thousands of radians, where float angles lose digits.
// T: float or bf16 (core/cuda/bf16.cuh).
template <class T>
__global__ void rope_kernel(const T* x, const void* pos, bool i32, double theta, bool inverse, T* out, int64_t len, int64_t d,
                            int64_t pairs_total) {
  GRID_STRIDE_LOOP(t, pairs_total) {
    const int64_t i = t % (d / 2), l = (t / (d / 2)) % len;
    const double angle = static_cast<double>(index_at(pos, i32, l)) * pow(theta, -2.0 * i / d);
    double s, c;
    sincos(angle, &s, &c);
    if (inverse) s = -s;
    const int64_t at = 2 * t;
    const double x0 = load_f32(x[at]), x1 = load_f32(x[at + 1]);
    out[at] = store_as<T>(static_cast<float>(x0 * c - x1 * s));
    out[at + 1] = store_as<T>(static_cast<float>(x0 * s + x1 * c));
  }
}

__global__ void index_step_kernel(const int64_t* x, int64_t add, int64_t modulus, int64_t* out, int64_t n) {
  GRID_STRIDE_LOOP(i, n) { out[i] = modulus > 0 ? (x[i] + add) % modulus : x[i] + add; }
}

template <class T>
__global__ void cache_write_kernel(T* cache, const T* rows, const void* position, bool i32, int64_t slots, int64_t inner,
                                   int64_t n) {
  const int64_t slot = index_at(position, i32, 0) % slots;
  GRID_STRIDE_LOOP(t, n) {
    const int64_t o = t / inner, i = t % inner;
    cache[(o * slots + slot) * inner + i] = rows[t];
  }
}

}  // namespace

void gather(const Tensor& in, const Tensor& out, const GatherArgs& args) {
  if (args.numel == 0) return;
  dispatch_bytes(in.dtype(), [&](auto tag) {
    using T = decltype(tag);
    constexpr int P = 16 / static_cast<int>(sizeof(T));
    const T* src = static_cast<const T*>(in.raw_data());
    T* dst = static_cast<T*>(out.raw_data());
    const int inner = args.rank - 1;
    bool packed =
        args.rank > 0 && args.in_stride[inner] == 1 && args.out_shape[inner] % P == 0 && aligned16(src) && aligned16(dst);
    for (int d = 0; packed && d < inner; ++d) packed = args.in_stride[d] % P == 0;
    if (std::max(in.numel(), args.numel) >= kMax32)
      gather_kernel<T, int64_t, 1><<<grid_for(args.numel), kBlock, 0, current_stream()>>>(src, dst, args);
    else if (packed)
      gather_kernel<T, uint32_t, P><<<grid_for(args.numel / P), kBlock, 0, current_stream()>>>(src, dst, args);
    else
      gather_kernel<T, uint32_t, 1><<<grid_for(args.numel), kBlock, 0, current_stream()>>>(src, dst, args);
  });
  TTT_CUDA_CHECK_LAUNCH();
}

void copy_block(const Tensor& src, const Tensor& dst, const BlockCopyArgs& args) {
  const int64_t n = args.outer * args.count * args.inner;
  if (n == 0) return;
  dispatch_bytes(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    constexpr int P = 16 / static_cast<int>(sizeof(T));
    const T* from = static_cast<const T*>(src.raw_data());
    T* to = static_cast<T*>(dst.raw_data());
    if (std::max(src.numel(), dst.numel()) >= kMax32)
      copy_block_kernel<T, int64_t, 1><<<grid_for(n), kBlock, 0, current_stream()>>>(from, to, args);
    else if (args.inner % P == 0 && aligned16(from) && aligned16(to))
      copy_block_kernel<T, uint32_t, P><<<grid_for(n / P), kBlock, 0, current_stream()>>>(from, to, args);
    else
      copy_block_kernel<T, uint32_t, 1><<<grid_for(n), kBlock, 0, current_stream()>>>(from, to, args);
  });
  TTT_CUDA_CHECK_LAUNCH();
}

void flip(const Tensor& x, const Tensor& out, const DimView& v) {
  dispatch_bytes(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    flip_kernel<T><<<grid_for(x.numel()), kBlock, 0, current_stream()>>>(static_cast<const T*>(x.raw_data()),
                                                                         static_cast<T*>(out.raw_data()), v);
  });
  TTT_CUDA_CHECK_LAUNCH();
}

void tri(const Tensor& x, const Tensor& out, int64_t k, bool lower) {
  tri_kernel<<<grid_for(x.numel()), kBlock, 0, current_stream()>>>(x.data<float>(), out.data<float>(), x.size(-2), x.size(-1), k,
                                                                   lower, x.numel());
  TTT_CUDA_CHECK_LAUNCH();
}

void embedding(const Tensor& weight, const Tensor& ids, const Tensor& out) {
  const int64_t d = weight.size(1);
  dispatch_f32_bf16(weight.dtype(), [&](auto tag) {
    using T = decltype(tag);
    embedding_kernel<T><<<grid_for(ids.numel() * d), kBlock, 0, current_stream()>>>(
        weight.data<T>(), ids.raw_data(), ids.dtype() == DType::i32, out.data<T>(), ids.numel(), d, weight.size(0));
  });
  TTT_CUDA_CHECK_LAUNCH();
}

void embedding_backward(const Tensor& grad, const Tensor& ids, const Tensor& grad_weight) {
  const int64_t d = grad_weight.size(1);
  embedding_backward_kernel<<<grid_for(ids.numel() * d), kBlock, 0, current_stream()>>>(
      grad.data<float>(), ids.raw_data(), ids.dtype() == DType::i32, grad_weight.data<float>(), ids.numel(), d,
      grad_weight.size(0));
  TTT_CUDA_CHECK_LAUNCH();
}

void rope(const Tensor& x, const Tensor& positions, double theta, bool inverse, const Tensor& out) {
  const int64_t pairs = x.numel() / 2;
  dispatch_f32_bf16(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    rope_kernel<T><<<grid_for(pairs), kBlock, 0, current_stream()>>>(x.data<T>(), positions.raw_data(),
                                                                     positions.dtype() == DType::i32, theta, inverse,
                                                                     out.data<T>(), x.size(-2), x.size(-1), pairs);
  });
  TTT_CUDA_CHECK_LAUNCH();
}

void index_step(const Tensor& x, int64_t add, int64_t modulus, const Tensor& out) {
  index_step_kernel<<<grid_for(x.numel()), kBlock, 0, current_stream()>>>(x.data<int64_t>(), add, modulus, out.data<int64_t>(),
                                                                          x.numel());
  TTT_CUDA_CHECK_LAUNCH();
}

void cache_write(const Tensor& cache, const Tensor& rows, const Tensor& position) {
  const int64_t slots = cache.size(-2), inner = cache.size(-1);
  dispatch_bytes(cache.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cache_write_kernel<T><<<grid_for(rows.numel()), kBlock, 0, current_stream()>>>(
        static_cast<T*>(cache.raw_data()), static_cast<const T*>(rows.raw_data()), position.raw_data(),
        position.dtype() == DType::i32, slots, inner, rows.numel());
  });
  TTT_CUDA_CHECK_LAUNCH();
}

}  // namespace ttt::cuda
