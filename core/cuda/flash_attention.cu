// Flash attention for bf16 q, k, v [n, S, 64] (FlashAttention-2's schedule, on WMMA tensor-core
// tiles): out = softmax(scale q k^T, masked) v without the [S, S] matrices in memory. Tiles of 64
// queries x 64 keys; a block of 4 warps, each warp 16 rows of a tile. Products take bf16 operands
// and sum in f32; softmax statistics are f32; P and dS are rounded to bf16 before their products,
// as the composed op (autograd/ops_attention.cpp) does.
//
// forward   one block per (sequence, query tile): S = Q K^T per key tile, the online softmax
//           (running row max m and sum l, O rescaled by exp(m_old - m_new)), O += P V; at the end
//           O / l and lse = m + log l (what backward rebuilds P from).
// backward  D = rowsum(dO * O); then two kernels, no atomics (the result does not depend on
//           timing): per key tile, dV = sum P^T dO and dK = sum dS^T Q over its query tiles; per
//           query tile, dQ = sum dS K over its key tiles. P = exp(scale S - lse), dP = dO V^T,
//           dS = scale P (dP - D).
// Masks (causal, sliding window) come from SoftmaxArgs (core/kernel_args.h): tiles no query can
// see are skipped, and entries are masked one by one inside the tiles that are computed.
#include <cuda_bf16.h>
#include <mma.h>

#include "core/backend.h"
#include "core/cuda/cuda_check.h"
#include "core/half.h"

namespace ttt::cuda {

namespace {

using namespace nvcuda;
using bf = __nv_bfloat16;

constexpr int kD = 64;        // head dim
constexpr int kTile = 64;     // queries or keys per tile
constexpr int kThreads = 128;  // 4 warps, 16 rows of a tile each
constexpr int kLdh = kD + 8;  // row length of bf16 tiles in shared memory (padding against bank conflicts)
constexpr int kLdf = kTile + 4;  // row length of f32 tiles
constexpr int kTileH = kTile * kLdh;  // elements of one bf16 tile
constexpr int kTileF = kTile * kLdf;  // elements of one f32 tile

using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, bf, wmma::row_major>;
using FragB = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf, wmma::row_major>;
using FragBt = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf, wmma::col_major>;  // B given as its transpose
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

struct Flash {
  int64_t S = 0;
  float scale = 1;
  SoftmaxArgs mask;
};

__device__ __forceinline__ bool blocked(const Flash& a, int64_t i, int64_t j) {
  return i >= a.S || j >= a.S || attention_blocked(a.mask, i, j);
}

// Rows [r0, r0 + 64) of a row-major [S, 64] matrix into a [64][kLdh] tile; rows past S are zero.
__device__ void load_tile(const bf* src, int64_t S, int64_t r0, bf* tile) {
  for (int idx = threadIdx.x; idx < kTile * kD / 4; idx += kThreads) {
    const int r = idx / (kD / 4), c = idx % (kD / 4) * 4;
    uint2 v = make_uint2(0, 0);
    if (r0 + r < S) v = *reinterpret_cast<const uint2*>(src + (r0 + r) * kD + c);
    *reinterpret_cast<uint2*>(tile + r * kLdh + c) = v;
  }
}

// The 16 rows of `warp` of a bf16 tile as the A operands of products, one fragment per 16
// columns: loaded once and kept in registers while the loop over the other tiles runs.
__device__ void load_rows(const bf* tile, FragA (&rows)[4], int warp) {
  for (int kk = 0; kk < 4; ++kk) wmma::load_matrix_sync(rows[kk], tile + warp * 16 * kLdh + kk * 16, kLdh);
}

// The warp's 16 rows of C (f32 tile, row-major) = A (the warp's rows, [16][64]) B^T, B the bf16
// tile b [64][64] (so that C[r][n] = sum_k A[r][k] b[n][k]).
__device__ void warp_product_bt(const FragA (&a)[4], const bf* b, float* c, int warp) {
  for (int nt = 0; nt < 4; ++nt) {
    FragC acc;
    wmma::fill_fragment(acc, 0.0f);
    for (int kk = 0; kk < 4; ++kk) {
      FragBt fb;
      wmma::load_matrix_sync(fb, b + nt * 16 * kLdh + kk * 16, kLdh);
      wmma::mma_sync(acc, a[kk], fb, acc);
    }
    wmma::store_matrix_sync(c + warp * 16 * kLdf + nt * 16, acc, kLdf, wmma::mem_row_major);
  }
}

// acc[nt] += A (the warp's 16 rows of a bf16 tile) B (a row-major bf16 tile [64][64]).
__device__ void warp_accumulate(const bf* a, const bf* b, FragC (&acc)[4], int warp) {
  for (int nt = 0; nt < 4; ++nt)
    for (int kk = 0; kk < 4; ++kk) {
      FragA fa;
      FragB fb;
      wmma::load_matrix_sync(fa, a + warp * 16 * kLdh + kk * 16, kLdh);
      wmma::load_matrix_sync(fb, b + kk * 16 * kLdh + nt * 16, kLdh);
      wmma::mma_sync(acc[nt], fa, fb, acc[nt]);
    }
}

// Writes the warp's 16 rows of acc (rows r0 + warp * 16 + ...) to dst [S, 64] as bf16, through the
// f32 scratch tile.
__device__ void store_rows(FragC (&acc)[4], float* scratch, bf* dst, int64_t S, int64_t r0, int warp) {
  for (int nt = 0; nt < 4; ++nt)
    wmma::store_matrix_sync(scratch + warp * 16 * kLdf + nt * 16, acc[nt], kLdf, wmma::mem_row_major);
  __syncwarp();
  const int lane = threadIdx.x % 32;
  for (int e = lane; e < 16 * kD; e += 32) {
    const int r = e / kD, c = e % kD;
    const int64_t row = r0 + warp * 16 + r;
    if (row < S) dst[row * kD + c] = __float2bfloat16(scratch[(warp * 16 + r) * kLdf + c]);
  }
}

// The key tiles [begin, end) that some query of the query tile qt may see.
__device__ void key_tiles(const Flash& a, int64_t qt, int64_t& begin, int64_t& end) {
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
__device__ void query_tiles(const Flash& a, int64_t kt, int64_t& begin, int64_t& end) {
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

// Lanes 2r and 2r + 1 of a warp share row r of its 16: lane 2r + h takes columns h, h + 2, h + 4, ...
// (neighbouring lanes on neighbouring words: fewer shared-memory bank conflicts than halves).
struct RowSlot {
  int row, half;  // row within the 64-row tile
  __device__ RowSlot() : row(threadIdx.x / 32 * 16 + threadIdx.x % 32 / 2), half(threadIdx.x % 2) {}
  __device__ int col(int c) const { return half + 2 * c; }  // c < 32
};

__global__ void __launch_bounds__(kThreads) flash_forward_kernel(const bf* q, const bf* k, const bf* v, bf* out,
                                                                 float* lse, Flash a) {
  extern __shared__ __align__(128) unsigned char smem[];
  bf* Qs = reinterpret_cast<bf*>(smem);
  bf* Ks = Qs + kTileH;
  bf* Vs = Ks + kTileH;
  bf* Ps = Vs + kTileH;
  float* Sf = reinterpret_cast<float*>(Ps + kTileH);
  float* Of = Sf + kTileF;
  const int warp = threadIdx.x / 32;
  const int64_t base = blockIdx.y * a.S * kD, q0 = blockIdx.x * int64_t{kTile};
  load_tile(q + base, a.S, q0, Qs);
  for (int e = threadIdx.x; e < kTileF; e += kThreads) Of[e] = 0.0f;
  __syncthreads();
  FragA q_rows[4];
  load_rows(Qs, q_rows, warp);
  const RowSlot slot;
  const int64_t i = q0 + slot.row;
  float m = -INFINITY, l = 0;  // running max of scale s and sum of exp(scale s - m) over this row
  int64_t begin, end;
  key_tiles(a, blockIdx.x, begin, end);
  for (int64_t kt = begin; kt < end; ++kt) {
    __syncthreads();  // every warp is done with the previous K, V
    load_tile(k + base, a.S, kt * kTile, Ks);
    load_tile(v + base, a.S, kt * kTile, Vs);
    __syncthreads();
    warp_product_bt(q_rows, Ks, Sf, warp);  // S = Q K^T, the warp's rows
    __syncwarp();
    float x[32], tile_max = -INFINITY;
    for (int c = 0; c < 32; ++c) {
      const int col = slot.col(c);
      x[c] = blocked(a, i, kt * kTile + col) ? -INFINITY : a.scale * Sf[slot.row * kLdf + col];
      tile_max = fmaxf(tile_max, x[c]);
    }
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
    const float m_new = fmaxf(m, tile_max);
    const float alpha = m == -INFINITY ? 0.0f : __expf(m - m_new);  // rescales what was summed so far
    float sum = 0;
    for (int c = 0; c < 32; ++c) {
      const int col = slot.col(c);
      const float p = x[c] == -INFINITY ? 0.0f : __expf(x[c] - m_new);
      sum += p;
      Ps[slot.row * kLdh + col] = __float2bfloat16(p);
      if (alpha != 1.0f) Of[slot.row * kLdf + col] *= alpha;  // the row's max moved
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    l = l * alpha + sum;
    m = m_new;
    __syncwarp();
    for (int nt = 0; nt < 4; ++nt) {  // O += P V, the warp's rows
      FragC o;
      wmma::load_matrix_sync(o, Of + warp * 16 * kLdf + nt * 16, kLdf, wmma::mem_row_major);
      for (int kk = 0; kk < 4; ++kk) {
        FragA fp;
        FragB fv;
        wmma::load_matrix_sync(fp, Ps + warp * 16 * kLdh + kk * 16, kLdh);
        wmma::load_matrix_sync(fv, Vs + kk * 16 * kLdh + nt * 16, kLdh);
        wmma::mma_sync(o, fp, fv, o);
      }
      wmma::store_matrix_sync(Of + warp * 16 * kLdf + nt * 16, o, kLdf, wmma::mem_row_major);
    }
    __syncwarp();
  }
  if (i >= a.S) return;
  for (int c = 0; c < 32; ++c) {
    const int col = slot.col(c);
    out[base + i * kD + col] = __float2bfloat16(Of[slot.row * kLdf + col] / l);
  }
  if (slot.half == 0) lse[blockIdx.y * a.S + i] = m + logf(l);
}

// D[row] = sum_c dO[row, c] O[row, c]: a warp per row.
__global__ void flash_row_dot_kernel(const bf* grad, const bf* out, float* d_rows, int64_t rows) {
  const int64_t r = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32;
  if (r >= rows) return;
  const int lane = threadIdx.x % 32;
  float s = 0;
  for (int c = lane; c < kD; c += 32) s += __bfloat162float(grad[r * kD + c]) * __bfloat162float(out[r * kD + c]);
  for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
  if (lane == 0) d_rows[r] = s;
}

// Per key tile: dV = sum over query tiles of P^T dO, dK = sum of dS^T Q. The warp owns 16 keys.
__global__ void __launch_bounds__(kThreads) flash_backward_kv_kernel(const bf* q, const bf* k, const bf* v,
                                                                     const bf* grad, const float* lse,
                                                                     const float* d_rows, bf* dk, bf* dv, Flash a) {
  extern __shared__ __align__(128) unsigned char smem[];
  bf* Ks = reinterpret_cast<bf*>(smem);
  bf* Vs = Ks + kTileH;
  bf* Qs = Vs + kTileH;
  bf* Gs = Qs + kTileH;   // dO
  bf* Pt = Gs + kTileH;   // P^T, bf16
  bf* DSt = Pt + kTileH;  // dS^T, bf16
  float* St = reinterpret_cast<float*>(DSt + kTileH);  // S^T, then scratch
  float* dPt = St + kTileF;
  float* lse_s = dPt + kTileF;
  float* d_s = lse_s + kTile;
  const int warp = threadIdx.x / 32;
  const int64_t seq = blockIdx.y, base = seq * a.S * kD, k0 = blockIdx.x * int64_t{kTile};
  load_tile(k + base, a.S, k0, Ks);
  load_tile(v + base, a.S, k0, Vs);
  __syncthreads();
  FragA k_rows[4], v_rows[4];
  load_rows(Ks, k_rows, warp);
  load_rows(Vs, v_rows, warp);
  FragC acc_dk[4], acc_dv[4];
  for (int nt = 0; nt < 4; ++nt) {
    wmma::fill_fragment(acc_dk[nt], 0.0f);
    wmma::fill_fragment(acc_dv[nt], 0.0f);
  }
  const RowSlot slot;  // here: row = a key of the tile, columns = queries
  const int64_t j = k0 + slot.row;
  int64_t begin, end;
  query_tiles(a, blockIdx.x, begin, end);
  for (int64_t qt = begin; qt < end; ++qt) {
    const int64_t q0 = qt * kTile;
    __syncthreads();
    load_tile(q + base, a.S, q0, Qs);
    load_tile(grad + base, a.S, q0, Gs);
    for (int r = threadIdx.x; r < kTile; r += kThreads) {
      const bool in = q0 + r < a.S;
      lse_s[r] = in ? lse[seq * a.S + q0 + r] : 0.0f;
      d_s[r] = in ? d_rows[seq * a.S + q0 + r] : 0.0f;
    }
    __syncthreads();
    warp_product_bt(k_rows, Qs, St, warp);   // S^T = K Q^T
    warp_product_bt(v_rows, Gs, dPt, warp);  // dP^T = V dO^T
    __syncwarp();
    for (int c = 0; c < 32; ++c) {
      const int col = slot.col(c);
      const int64_t i = q0 + col;
      float p = 0, ds = 0;
      if (!blocked(a, i, j)) {
        p = __expf(a.scale * St[slot.row * kLdf + col] - lse_s[col]);
        ds = a.scale * p * (dPt[slot.row * kLdf + col] - d_s[col]);
      }
      Pt[slot.row * kLdh + col] = __float2bfloat16(p);
      DSt[slot.row * kLdh + col] = __float2bfloat16(ds);
    }
    __syncwarp();
    warp_accumulate(Pt, Gs, acc_dv, warp);   // dV += P^T dO
    warp_accumulate(DSt, Qs, acc_dk, warp);  // dK += dS^T Q
  }
  store_rows(acc_dk, St, dk + base, a.S, k0, warp);
  __syncwarp();
  store_rows(acc_dv, St, dv + base, a.S, k0, warp);
}

// Per query tile: dQ = sum over key tiles of dS K. The warp owns 16 queries.
__global__ void __launch_bounds__(kThreads) flash_backward_q_kernel(const bf* q, const bf* k, const bf* v,
                                                                    const bf* grad, const float* lse,
                                                                    const float* d_rows, bf* dq, Flash a) {
  extern __shared__ __align__(128) unsigned char smem[];
  bf* Qs = reinterpret_cast<bf*>(smem);
  bf* Gs = Qs + kTileH;  // dO
  bf* Ks = Gs + kTileH;
  bf* Vs = Ks + kTileH;
  bf* DS = Vs + kTileH;  // dS, bf16
  float* Sf = reinterpret_cast<float*>(DS + kTileH);
  float* dPf = Sf + kTileF;
  const int warp = threadIdx.x / 32;
  const int64_t seq = blockIdx.y, base = seq * a.S * kD, q0 = blockIdx.x * int64_t{kTile};
  load_tile(q + base, a.S, q0, Qs);
  load_tile(grad + base, a.S, q0, Gs);
  __syncthreads();
  FragA q_rows[4], g_rows[4];
  load_rows(Qs, q_rows, warp);
  load_rows(Gs, g_rows, warp);
  const RowSlot slot;
  const int64_t i = q0 + slot.row;
  const float lse_i = i < a.S ? lse[seq * a.S + i] : 0.0f, d_i = i < a.S ? d_rows[seq * a.S + i] : 0.0f;
  FragC acc[4];
  for (int nt = 0; nt < 4; ++nt) wmma::fill_fragment(acc[nt], 0.0f);
  int64_t begin, end;
  key_tiles(a, blockIdx.x, begin, end);
  for (int64_t kt = begin; kt < end; ++kt) {
    __syncthreads();
    load_tile(k + base, a.S, kt * kTile, Ks);
    load_tile(v + base, a.S, kt * kTile, Vs);
    __syncthreads();
    warp_product_bt(q_rows, Ks, Sf, warp);   // S = Q K^T
    warp_product_bt(g_rows, Vs, dPf, warp);  // dP = dO V^T
    __syncwarp();
    for (int c = 0; c < 32; ++c) {
      const int col = slot.col(c);
      float ds = 0;
      if (!blocked(a, i, kt * kTile + col)) {
        const float p = __expf(a.scale * Sf[slot.row * kLdf + col] - lse_i);
        ds = a.scale * p * (dPf[slot.row * kLdf + col] - d_i);
      }
      DS[slot.row * kLdh + col] = __float2bfloat16(ds);
    }
    __syncwarp();
    warp_accumulate(DS, Ks, acc, warp);  // dQ += dS K
  }
  store_rows(acc, Sf, dq + base, a.S, q0, warp);
}

constexpr size_t kForwardSmem = 4 * kTileH * sizeof(bf) + 2 * kTileF * sizeof(float);
constexpr size_t kBackwardKvSmem = 6 * kTileH * sizeof(bf) + 2 * kTileF * sizeof(float) + 2 * kTile * sizeof(float);
constexpr size_t kBackwardQSmem = 5 * kTileH * sizeof(bf) + 2 * kTileF * sizeof(float);

// The kernels use more than the default 48 KB of shared memory: allowed once per process.
void allow_shared_memory() {
  static const bool done = [] {
    TTT_CUDA_CHECK(cudaFuncSetAttribute(flash_forward_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(kForwardSmem)));
    TTT_CUDA_CHECK(cudaFuncSetAttribute(flash_backward_kv_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(kBackwardKvSmem)));
    TTT_CUDA_CHECK(cudaFuncSetAttribute(flash_backward_q_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(kBackwardQSmem)));
    return true;
  }();
  (void)done;
}

Flash flash_args(const Tensor& q, const SoftmaxArgs& mask) {
  Flash a;
  a.S = q.size(-2);
  a.scale = static_cast<float>(mask.scale);
  a.mask = mask;
  return a;
}

const bf* in(const Tensor& t) { return reinterpret_cast<const bf*>(t.data<bf16>()); }
bf* out_of(const Tensor& t) { return reinterpret_cast<bf*>(t.data<bf16>()); }

}  // namespace

void flash_attention(const Tensor& q, const Tensor& k, const Tensor& v, const SoftmaxArgs& mask, const Tensor& out,
                     const Tensor& lse) {
  allow_shared_memory();
  const Flash a = flash_args(q, mask);
  const dim3 grid(static_cast<unsigned>((a.S + kTile - 1) / kTile), static_cast<unsigned>(q.numel() / (a.S * kD)));
  flash_forward_kernel<<<grid, kThreads, kForwardSmem, current_stream()>>>(in(q), in(k), in(v), out_of(out),
                                                                         lse.data<float>(), a);
  TTT_CUDA_CHECK_LAUNCH();
}

void flash_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                              const Tensor& grad, const SoftmaxArgs& mask, const Tensor& dq, const Tensor& dk,
                              const Tensor& dv, const Tensor& d_rows) {
  allow_shared_memory();
  const Flash a = flash_args(q, mask);
  const int64_t rows = q.numel() / kD;
  flash_row_dot_kernel<<<static_cast<unsigned>((rows * 32 + kBlock - 1) / kBlock), kBlock, 0, current_stream()>>>(
      in(grad), in(out), d_rows.data<float>(), rows);
  TTT_CUDA_CHECK_LAUNCH();
  const dim3 grid(static_cast<unsigned>((a.S + kTile - 1) / kTile), static_cast<unsigned>(q.numel() / (a.S * kD)));
  flash_backward_kv_kernel<<<grid, kThreads, kBackwardKvSmem, current_stream()>>>(
      in(q), in(k), in(v), in(grad), lse.data<float>(), d_rows.data<float>(), out_of(dk), out_of(dv), a);
  TTT_CUDA_CHECK_LAUNCH();
  flash_backward_q_kernel<<<grid, kThreads, kBackwardQSmem, current_stream()>>>(
      in(q), in(k), in(v), in(grad), lse.data<float>(), d_rows.data<float>(), out_of(dq), a);
  TTT_CUDA_CHECK_LAUNCH();
}

}  // namespace ttt::cuda
