// CUDA kernel that reduces along a dim: sum or max, in one or two passes (row_kernels.cuh's Pieces).
#include <algorithm>

#include "core/backend.h"
#include "core/cuda/bf16.cuh"
#include "core/cuda/block_reduce.cuh"
#include "core/cuda/cuda_check.h"
#include "core/cuda/row_kernels.cuh"

namespace ttt::cuda {

namespace {

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

}  // namespace ttt::cuda
