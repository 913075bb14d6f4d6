// What the flash attention kernels share whatever their element type (flash_attention.cu for bf16,
// flash_attention_f32.cu for f32): the tiling (64 queries x 64 keys, a block of 4 warps of 16
// rows), which tiles a mask leaves work in, the per-entry mask test, and where an mma.sync
// accumulator element lies in its warp's 16 rows.
//
// Accumulator layout (PTX ISA, "Matrix Fragments for mma.m16n8k16" and "mma.m16n8k8", the same
// for both): a 16 x 8 tile of f32 sums, lane = 4 g + t holds c0, c1 (row g, cols 2t, 2t+1) and
// c2, c3 (row g + 8, same cols).
#pragma once
#include <cuda_bf16.h>

#include <cstdint>

#include "core/backend.h"
#include "core/kernel_args.h"

namespace ttt::cuda::flash {

constexpr int kTile = 64;      // queries or keys per tile
constexpr int kThreads = 128;  // 4 warps, 16 rows of a tile each
constexpr float kLog2e = 1.4426950408889634f, kLn2 = 0.6931471805599453f;

struct Flash {
  int64_t S = 0;
  float scale = 1;
  SoftmaxArgs mask;
};

__device__ __forceinline__ bool blocked(const Flash& a, int64_t i, int64_t j) {
  return i >= a.S || j >= a.S || attention_blocked(a.mask, i, j);
}

// True when some entry of the 64 x 64 tile (queries from q0, keys from k0) is blocked or out of
// range; the others need no per-entry test.
__device__ __forceinline__ bool tile_needs_mask(const Flash& a, int64_t q0, int64_t k0) {
  const SoftmaxArgs& m = a.mask;
  if (q0 + kTile > a.S || k0 + kTile > a.S) return true;
  if (m.queries == 0) return false;
  if (m.causal && k0 + kTile - 1 > q0) return true;
  if (m.context > 0 && (q0 + kTile - 1) - k0 >= m.context) return true;
  return m.context > 0 && !m.causal && (k0 + kTile - 1) - q0 >= m.context;
}

// The key tiles [begin, end) that some query of the query tile qt may see.
__device__ __forceinline__ void key_tiles(const Flash& a, int64_t qt, int64_t& begin, int64_t& end) {
  const SoftmaxArgs& m = a.mask;
  const int64_t q0 = qt * kTile, q1 = min(a.S, q0 + kTile) - 1;
  int64_t lo = 0, hi = a.S - 1;
  if (m.queries > 0) {
    if (m.causal) hi = q1;
    if (m.context > 0) {
      lo = max(int64_t{0}, q0 - m.context + 1);
      if (!m.causal) hi = min(hi, q1 + m.context - 1);
    }
  }
  begin = lo / kTile;
  end = hi / kTile + 1;
}

// The query tiles [begin, end) of which some query may see a key of the key tile kt.
__device__ __forceinline__ void query_tiles(const Flash& a, int64_t kt, int64_t& begin, int64_t& end) {
  const SoftmaxArgs& m = a.mask;
  const int64_t k0 = kt * kTile, k1 = min(a.S, k0 + kTile) - 1;
  int64_t lo = 0, hi = a.S - 1;
  if (m.queries > 0) {
    if (m.causal) lo = k0;
    if (m.context > 0) {
      hi = min(hi, k1 + m.context - 1);
      if (!m.causal) lo = max(lo, k0 - m.context + 1);
    }
  }
  begin = lo / kTile;
  end = hi / kTile + 1;
}

__device__ __forceinline__ float quad_max(float v) {  // over the 4 lanes that share a row
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// Column of accumulator element e of tile nt (within the block's columns), and its row (0-15) offset.
__device__ __forceinline__ int acc_col(int nt, int e) { return nt * 8 + threadIdx.x % 4 * 2 + (e & 1); }
__device__ __forceinline__ int acc_row(int e) { return threadIdx.x % 32 / 4 + (e >= 2 ? 8 : 0); }

using Acc = float[8][4];  // a warp's 16 x 64 scores of a key tile: 8 accumulator tiles of 16 x 8

// One key tile (from k0) of the online softmax over the warp's raw scores s (rows from r0 of the
// query tile from q0): the scores scaled by c (log2 units) and masked, the running row max m and
// sum l of rows g and g + 8 brought up to date, s replaced by P = exp2(s - m), and alpha, the
// factor by which what was summed before (l, and O) is rescaled.
__device__ __forceinline__ void online_softmax(const Flash& a, int64_t q0, int64_t r0, int64_t k0, float c, Acc& s, float (&m)[2],
                                               float (&l)[2], float (&alpha)[2]) {
  const bool check = tile_needs_mask(a, q0, k0);
  float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
  for (int nt = 0; nt < 8; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      float x = s[nt][e] * c;
      if (check && blocked(a, r0 + acc_row(e), k0 + acc_col(nt, e))) x = -INFINITY;
      s[nt][e] = x;
      tile_max[e / 2] = fmaxf(tile_max[e / 2], x);
    }
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const float m_new = fmaxf(m[h], quad_max(tile_max[h]));
    alpha[h] = m[h] == -INFINITY ? 0.0f : exp2f(m[h] - m_new);  // rescales what was summed so far
    m[h] = m_new;
    l[h] *= alpha[h];
  }
#pragma unroll
  for (int nt = 0; nt < 8; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float p = s[nt][e] == -INFINITY ? 0.0f : exp2f(s[nt][e] - m[e / 2]);
      s[nt][e] = p;
      l[e / 2] += p;
    }
}

// The end of the forward: each row's sum l over its lanes, and lse = m + log l (natural log) for
// the rows below S, which backward rebuilds P from; returns 1 / l per row (O's scale).
__device__ __forceinline__ void finish_rows(const Flash& a, int64_t r0, const float (&m)[2], float (&l)[2], float* lse_rows,
                                            float (&inv_l)[2]) {
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    l[h] = quad_sum(l[h]);
    inv_l[h] = 1.0f / l[h];
  }
  if (threadIdx.x % 4 == 0)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int64_t i = r0 + acc_row(2 * h);
      if (i < a.S) lse_rows[i] = m[h] * kLn2 + logf(l[h]);
    }
}

// dS = scale P (dP - D) for the warp's 16 query rows (from r0, in the query tile from q0) against
// the key tile from k0, P rebuilt from the scores s and each row's lse (log2 units, lse_row) and D
// its rowsum(dO * O); s is replaced by dS, 0 where the mask blocks.
__device__ __forceinline__ void scores_to_ds(const Flash& a, int64_t q0, int64_t r0, int64_t k0, float c,
                                             const float (&lse_row)[2], const float (&d_row)[2], Acc& s, const Acc& dp) {
  const bool check = tile_needs_mask(a, q0, k0);
#pragma unroll
  for (int nt = 0; nt < 8; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      float ds = 0;
      if (!(check && blocked(a, r0 + acc_row(e), k0 + acc_col(nt, e)))) {
        const float p = exp2f(s[nt][e] * c - lse_row[e / 2]);
        ds = a.scale * p * (dp[nt][e] - d_row[e / 2]);
      }
      s[nt][e] = ds;
    }
}

// What backward reads of each query row (its lse in log2 units, and D = rowsum(dO * O)), for the
// warp's rows g and g + 8 from r0 (the query-tile kernel) ...
__device__ __forceinline__ void load_row_stats(const Flash& a, const float* lse, const float* d_rows, int64_t r0,
                                               float (&lse_row)[2], float (&d_row)[2]) {
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int64_t i = r0 + acc_row(2 * h);
    lse_row[h] = i < a.S ? lse[i] * kLog2e : 0.0f;
    d_row[h] = i < a.S ? d_rows[i] : 0.0f;
  }
}
// ... or for the 64 rows of the query tile from q0 into shared memory (the key-tile kernel; the
// caller syncs). lse and d_rows point at the sequence's rows.
__device__ __forceinline__ void load_tile_stats(const Flash& a, const float* lse, const float* d_rows, int64_t q0, float* lse_s,
                                                float* d_s) {
  for (int r = threadIdx.x; r < kTile; r += kThreads) {
    const bool in = q0 + r < a.S;
    lse_s[r] = in ? lse[q0 + r] * kLog2e : 0.0f;
    d_s[r] = in ? d_rows[q0 + r] : 0.0f;
  }
}

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

// D[row] = sum_c dO[row, c] O[row, c] for rows of D elements (bf16 or f32): a warp per row.
template <int D, class E>
__global__ void row_dot_kernel(const E* grad, const E* out, float* d_rows, int64_t rows) {
  const int64_t r = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32;
  if (r >= rows) return;
  const int lane = threadIdx.x % 32;
  float s = 0;
  for (int c = lane; c < D; c += 32) s += to_float(grad[r * D + c]) * to_float(out[r * D + c]);
  for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
  if (lane == 0) d_rows[r] = s;
}

}  // namespace ttt::cuda::flash

namespace ttt::cuda {
// The f32 kernels (flash_attention_f32.cu), which cuda::flash_attention runs for f32 tensors with
// the products rounded as `precision` says.
void flash_attention_f32(const Tensor& q, const Tensor& k, const Tensor& v, const flash::Flash& a, MatmulPrecision precision,
                         const Tensor& out, const Tensor& lse);
void flash_attention_f32_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                                  const Tensor& grad, const flash::Flash& a, MatmulPrecision precision, const Tensor& dq,
                                  const Tensor& dk, const Tensor& dv, const Tensor& d_rows);
}  // namespace ttt::cuda
