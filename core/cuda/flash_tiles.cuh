// What the flash attention kernels share whatever their element type (flash_attention.cu for bf16,
// flash_attention_f32.cu for f32): the tiling (64 queries x 64 keys, a block of 4 warps of 16
// rows), which tiles a mask leaves work in, the per-entry mask test, and where an mma.sync
// accumulator element lies in its warp's 16 rows.
//
// Accumulator layout (PTX ISA, "Matrix Fragments for mma.m16n8k16" and "mma.m16n8k8", the same
// for both): a 16 x 8 tile of f32 sums, lane = 4 g + t holds c0, c1 (row g, cols 2t, 2t+1) and
// c2, c3 (row g + 8, same cols).
#pragma once
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
