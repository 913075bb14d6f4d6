// Tensor-core pieces of the fused scan's matrix tiles (scan_cuda.cu, ttt.scan_precision tf32 /
// bf16): one warp's 32 x 16 block of a tile's output as 2 x 2 mma.sync products of 16 x 8, their
// operands read from shared memory in the register layout the instruction expects, sums in f32.
//
// The layouts (PTX ISA, "Matrix fragments for mma.m16n8k8" and "mma.m16n8k16"): a warp's lane is
// g = lane / 4 (the row group) and t = lane % 4 (the thread in the group).
//   TF32 m16n8k8:  A (16 x 8)  a0 (g, t)  a1 (g + 8, t)  a2 (g, t + 4)  a3 (g + 8, t + 4)
//                  B (8 x 8)   b0 (t, g)  b1 (t + 4, g)
//   bf16 m16n8k16: A (16 x 16) a0 (g, 2t..2t+1)  a1 (g + 8, 2t..)  a2 (g, 2t+8..)  a3 (g + 8, 2t+8..)
//                  B (16 x 8)  b0 (2t..2t+1, g)  b1 (2t+8..2t+9, g)   (two bf16 per register, the
//                  lower k in the lower half)
//   C (16 x 8, f32): c0, c1 (g, 2t..2t+1)  c2, c3 (g + 8, 2t..2t+1)
// Operands are rounded to nearest, ties to even, as the CPU executor's round_to_tf32 / round_to_bf16
// (core/half.h) do, so that the CPU scan is this kernel's reference up to the order of the sums.
#pragma once
#include <cstdint>

#include "core/kernel_args.h"

namespace ttt::scan::mma {

// f32 -> TF32 (its low 13 mantissa bits cleared), round to nearest even.
__device__ __forceinline__ float round_tf32(float x) {
  uint32_t r;
  asm("cvt.rn.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return __uint_as_float(r);
}

// Two f32 -> two bf16 in one register, `lo` in the lower half.
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  uint32_t r;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
}

// The value a stage stores in shared memory: rounded to TF32 once there (the mma reads it as is);
// bf16 operands stay f32 there and are rounded when packed into registers.
template <MatmulPrecision P>
__device__ __forceinline__ float staged(float x) {
  if constexpr (P == MatmulPrecision::tf32)
    return round_tf32(x);
  else
    return x;
}

__device__ __forceinline__ void mma_tf32(float (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// acc[mi][ni] += A[m + 16 mi .., k0 ..] B[k0 .., n + 8 ni ..] over one K-slab of `kSlab`, for the warp's
// 32 x 16 output block at (m, n). at_a(row, k) and at_b(k, col) read the staged tiles.
template <MatmulPrecision P, int kSlab, class AtA, class AtB>
__device__ __forceinline__ void warp_block(float (&acc)[2][2][4], int m, int n, AtA at_a, AtB at_b) {
  const int lane = int(threadIdx.x) % 32, g = lane / 4, t = lane % 4;
  if constexpr (P == MatmulPrecision::tf32) {
#pragma unroll
    for (int k = 0; k < kSlab; k += 8) {
      uint32_t a[2][4], b[2][2];
#pragma unroll
      for (int mi = 0; mi < 2; ++mi) {
        const int r = m + 16 * mi + g;
        a[mi][0] = __float_as_uint(at_a(r, k + t));
        a[mi][1] = __float_as_uint(at_a(r + 8, k + t));
        a[mi][2] = __float_as_uint(at_a(r, k + t + 4));
        a[mi][3] = __float_as_uint(at_a(r + 8, k + t + 4));
      }
#pragma unroll
      for (int ni = 0; ni < 2; ++ni) {
        b[ni][0] = __float_as_uint(at_b(k + t, n + 8 * ni + g));
        b[ni][1] = __float_as_uint(at_b(k + t + 4, n + 8 * ni + g));
      }
#pragma unroll
      for (int mi = 0; mi < 2; ++mi)
#pragma unroll
        for (int ni = 0; ni < 2; ++ni) mma_tf32(acc[mi][ni], a[mi], b[ni]);
    }
  } else {
    static_assert(P == MatmulPrecision::bf16, "tensor-core tiles are TF32 or bf16");
#pragma unroll
    for (int k = 0; k < kSlab; k += 16) {
      uint32_t a[2][4], b[2][2];
#pragma unroll
      for (int mi = 0; mi < 2; ++mi) {
        const int r = m + 16 * mi + g, c = k + 2 * t;
        a[mi][0] = pack_bf16(at_a(r, c), at_a(r, c + 1));
        a[mi][1] = pack_bf16(at_a(r + 8, c), at_a(r + 8, c + 1));
        a[mi][2] = pack_bf16(at_a(r, c + 8), at_a(r, c + 9));
        a[mi][3] = pack_bf16(at_a(r + 8, c + 8), at_a(r + 8, c + 9));
      }
#pragma unroll
      for (int ni = 0; ni < 2; ++ni) {
        const int col = n + 8 * ni + g, r = k + 2 * t;
        b[ni][0] = pack_bf16(at_b(r, col), at_b(r + 1, col));
        b[ni][1] = pack_bf16(at_b(r + 8, col), at_b(r + 9, col));
      }
#pragma unroll
      for (int mi = 0; mi < 2; ++mi)
#pragma unroll
        for (int ni = 0; ni < 2; ++ni) mma_bf16(acc[mi][ni], a[mi], b[ni]);
    }
  }
}

}  // namespace ttt::scan::mma
