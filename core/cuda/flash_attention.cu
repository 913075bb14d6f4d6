// Flash attention for bf16 q, k, v [n, S, D], head dim D 64 or 128 (FlashAttention-2's schedule):
// out = softmax(scale q k^T, masked) v without the [S, S] matrices in memory. Tiles of 64 queries
// x 64 keys; a block of 4 warps, each warp 16 rows of a tile. Each kernel holds two tiles in
// shared memory: the pair it reads once into registers (Q, or K and V, ...) shares the space of the
// pair it streams through (at D = 128 three or four tiles would pass the 48 KB of static shared
// memory). The products are tensor-core mma.sync instructions
// (m16n8k16, bf16 operands, f32 sums) whose results stay in registers: the softmax works on the
// product's accumulators and feeds them, rounded to bf16, straight back in as the next product's
// A operand (the accumulator layout of two n8 tiles is the A layout of one k16 chunk). Softmax
// statistics are f32; P and dS are rounded to bf16 before their products, as in the composed op
// (autograd/ops_attention.cpp).
//
// forward   one block per (sequence, query tile): S = Q K^T per key tile, the online softmax
//           (running row max m and sum l, O rescaled by exp(m_old - m_new)), O += P V; at the end
//           O / l and lse = m + log l (what backward rebuilds P from).
// backward  D = rowsum(dO * O); then two kernels, no atomics (the result does not depend on
//           timing): per key tile, dV = sum P^T dO and dK = sum dS^T Q over its query tiles; per
//           query tile, dQ = sum dS K over its key tiles. P = exp(scale S - lse), dP = dO V^T,
//           dS = scale P (dP - D).
// Masks (causal, sliding window) come from SoftmaxArgs (core/kernel_args.h): tiles no query can
// see are skipped, and entries are masked one by one in the tiles that straddle a mask's edge
// (core/cuda/flash_tiles.cuh, shared with the f32 kernels of flash_attention_f32.cu).
//
// Fragment layouts (PTX ISA, "Matrix Fragments for mma.m16n8k16"), lane = 4 g + t:
//   A 16x16: a0 (row g, cols 2t, 2t+1), a1 (row g+8, same), a2 (row g, cols 2t+8, 2t+9), a3 (row g+8, ...)
//   B 16x8:  b0 (rows 2t, 2t+1, col g), b1 (rows 2t+8, 2t+9, col g)
//   C 16x8:  c0, c1 (row g, cols 2t, 2t+1), c2, c3 (row g+8, same)
// ldmatrix loads four 8x8 blocks whose rows' addresses lanes 0-7, 8-15, 16-23, 24-31 give.
#include <cuda_bf16.h>

#include "core/backend.h"
#include "core/cuda/cuda_check.h"
#include "core/cuda/flash_tiles.cuh"
#include "core/half.h"

namespace ttt::cuda {

namespace {

using namespace flash;
using bf = __nv_bfloat16;

// row length of tiles of head dim D in shared memory: D + 8 elements (144 or 272 bytes), which
// keeps ldmatrix free of bank conflicts
template <int D>
constexpr int kLdh = D + 8;
template <int D>
constexpr int kTileH = kTile* kLdh<D>;

// Rows [r0, r0 + 64) of a row-major [S, D] matrix into a [64][kLdh] tile; rows past S are zero.
template <int D>
__device__ void load_tile(const bf* src, int64_t S, int64_t r0, bf* tile) {
  for (int idx = threadIdx.x; idx < kTile * D / 8; idx += kThreads) {
    const int r = idx / (D / 8), c = idx % (D / 8) * 8;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (r0 + r < S) v = *reinterpret_cast<const uint4*>(src + (r0 + r) * D + c);
    *reinterpret_cast<uint4*>(tile + r * kLdh<D> + c) = v;
  }
}

__device__ __forceinline__ uint32_t shared_address(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const bf* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const bf* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(p)));
}
// c += a b for one 16x8 tile (k = 16).
__device__ __forceinline__ void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // lo in the low half: the lower column
  return *reinterpret_cast<uint32_t*>(&v);
}

// Blocks of 16 rows in registers: Acc is 16 x 64 (the scores of a key tile: 8 accumulator tiles
// of 16 x 8), AccD 16 x D (D / 8 of them), Rows 16 x D as A operands (D / 16 of 16 x 16).
template <int D>
using AccD = float[D / 8][4];
template <int D>
using Rows = uint32_t[D / 16][4];

// Rows [r0, r0 + 16) of a tile as A operands.
template <int D>
__device__ void load_rows(const bf* tile, int r0, Rows<D>& a) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int kc = 0; kc < D / 16; ++kc) ldmatrix_x4(a[kc], tile + (r0 + lane % 16) * kLdh<D> + kc * 16 + lane / 16 * 8);
}

// The tiles of two [S, D] matrices from row r0 (a block's fixed operands: K and V for a key tile,
// Q and dO for a query tile) into shared memory, and the warp's 16 rows of each as A operands.
// The caller syncs before it writes over the tiles.
template <int D>
__device__ void load_fixed_tiles(const bf* x, const bf* y, int64_t S, int64_t r0, bf* xs, bf* ys, Rows<D>& x_rows,
                                 Rows<D>& y_rows) {
  load_tile<D>(x, S, r0, xs);
  load_tile<D>(y, S, r0, ys);
  __syncthreads();
  const int warp = threadIdx.x / 32;
  load_rows<D>(xs, warp * 16, x_rows);
  load_rows<D>(ys, warp * 16, y_rows);
}

// c = a b^T with b a tile [64][D]: c[r][n] = sum_k a[r][k] tile[n][k] (S = Q K^T from K's rows).
template <int D>
__device__ void product_bt(const Rows<D>& a, const bf* tile, Acc& c) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int nt = 0; nt < 8; ++nt) {
#pragma unroll
    for (int e = 0; e < 4; ++e) c[nt][e] = 0.0f;
#pragma unroll
    for (int kh = 0; kh < D / 32; ++kh) {  // one ldmatrix covers two k chunks of 16
      uint32_t b[4];
      ldmatrix_x4(b, tile + (nt * 8 + lane % 8) * kLdh<D> + kh * 32 + lane / 8 * 8);
      mma(c[nt], a[2 * kh], b[0], b[1]);
      mma(c[nt], a[2 * kh + 1], b[2], b[3]);
    }
  }
}

// c += p tile, p given as accumulators (16 x 64 over k, rounded to bf16 here), the tile [64][D]
// row-major [k][n] (O += P V, dQ += dS K, dV += P^T dO, ...).
template <int D>
__device__ void accumulate(const Acc& p, const bf* tile, AccD<D>& c) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int kc = 0; kc < 4; ++kc) {
    const uint32_t a[4] = {pack_bf16(p[2 * kc][0], p[2 * kc][1]), pack_bf16(p[2 * kc][2], p[2 * kc][3]),
                           pack_bf16(p[2 * kc + 1][0], p[2 * kc + 1][1]), pack_bf16(p[2 * kc + 1][2], p[2 * kc + 1][3])};
#pragma unroll
    for (int nh = 0; nh < D / 16; ++nh) {  // one transposing ldmatrix covers two n tiles of 8
      uint32_t b[4];
      ldmatrix_x4_trans(b, tile + (kc * 16 + lane % 8 + (lane / 8) % 2 * 8) * kLdh<D> + nh * 16 + lane / 16 * 8);
      mma(c[2 * nh], a, b[0], b[1]);
      mma(c[2 * nh + 1], a, b[2], b[3]);
    }
  }
}

// Writes the warp's 16 rows (from row r0 of [S, D]) of accumulators c, scaled per row, as bf16.
template <int D>
__device__ void store_rows(const AccD<D>& c, const float (&row_scale)[2], bf* dst, int64_t S, int64_t r0) {
#pragma unroll
  for (int nt = 0; nt < D / 8; ++nt)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int64_t row = r0 + acc_row(2 * h);
      if (row < S)
        *reinterpret_cast<uint32_t*>(dst + row * D + acc_col(nt, 0)) =
            pack_bf16(c[nt][2 * h] * row_scale[h], c[nt][2 * h + 1] * row_scale[h]);
    }
}

template <int D>
__global__ void __launch_bounds__(kThreads)
    flash_forward_kernel(const bf* q, const bf* k, const bf* v, bf* out, float* lse, Flash a) {
  __shared__ __align__(128) bf tiles[2 * kTileH<D>];
  bf *Qs = tiles, *Ks = tiles, *Vs = tiles + kTileH<D>;  // Q goes to registers before K comes in
  const int warp = threadIdx.x / 32;
  const int64_t base = blockIdx.y * a.S * D, q0 = blockIdx.x * int64_t{kTile}, r0 = q0 + warp * 16;
  load_tile<D>(q + base, a.S, q0, Qs);
  __syncthreads();
  Rows<D> qa;
  load_rows<D>(Qs, warp * 16, qa);
  const float c = a.scale * kLog2e;                          // exp(scale s) = exp2(c s): the statistics are in log2 units
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};  // this lane's part of rows g, g + 8
  AccD<D> o = {};
  int64_t begin, end;
  key_tiles(a, blockIdx.x, begin, end);
  for (int64_t kt = begin; kt < end; ++kt) {
    __syncthreads();  // every warp is done with the previous K, V (and with Q's tile)
    load_tile<D>(k + base, a.S, kt * kTile, Ks);
    load_tile<D>(v + base, a.S, kt * kTile, Vs);
    __syncthreads();
    Acc s;
    product_bt<D>(qa, Ks, s);  // S = Q K^T, the warp's 16 rows
    float alpha[2];
    online_softmax(a, q0, r0, kt * kTile, c, s, m, l, alpha);
#pragma unroll
    for (int nt = 0; nt < D / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[nt][e] *= alpha[e / 2];
    accumulate<D>(s, Vs, o);  // O += P V
  }
  float inv_l[2];
  finish_rows(a, r0, m, l, lse + blockIdx.y * a.S, inv_l);
  store_rows<D>(o, inv_l, out + base, a.S, r0);
}

// Per key tile: dV = sum over query tiles of P^T dO, dK = sum of dS^T Q. The warp owns 16 keys;
// its products run transposed (rows = keys, columns = queries).
template <int D>
__global__ void __launch_bounds__(kThreads)
    flash_backward_kv_kernel(const bf* q, const bf* k, const bf* v, const bf* grad, const float* lse, const float* d_rows, bf* dk,
                             bf* dv, Flash a) {
  __shared__ __align__(128) bf tiles[2 * kTileH<D>];
  bf *Ks = tiles, *Vs = tiles + kTileH<D>, *Qs = tiles, *Gs = tiles + kTileH<D>;  // Gs: dO; K, V go to registers first
  __shared__ float lse_s[kTile], d_s[kTile];
  const int warp = threadIdx.x / 32;
  const int64_t seq = blockIdx.y, base = seq * a.S * D, k0 = blockIdx.x * int64_t{kTile}, j0 = k0 + warp * 16;
  Rows<D> ka, va;
  load_fixed_tiles<D>(k + base, v + base, a.S, k0, Ks, Vs, ka, va);
  const float c = a.scale * kLog2e;
  AccD<D> acc_dk = {}, acc_dv = {};
  int64_t begin, end;
  query_tiles(a, blockIdx.x, begin, end);
  for (int64_t qt = begin; qt < end; ++qt) {
    const int64_t q0 = qt * kTile;
    __syncthreads();  // every warp is done with the previous Q, dO (and with K's and V's tiles)
    load_tile<D>(q + base, a.S, q0, Qs);
    load_tile<D>(grad + base, a.S, q0, Gs);
    load_tile_stats(a, lse + seq * a.S, d_rows + seq * a.S, q0, lse_s, d_s);
    __syncthreads();
    Acc st, dpt;
    product_bt<D>(ka, Qs, st);   // S^T = K Q^T
    product_bt<D>(va, Gs, dpt);  // dP^T = V dO^T
    const bool check = tile_needs_mask(a, q0, k0);
#pragma unroll
    for (int nt = 0; nt < 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int col = acc_col(nt, e);
        float p = 0, ds = 0;
        if (!(check && blocked(a, q0 + col, j0 + acc_row(e)))) {
          p = exp2f(st[nt][e] * c - lse_s[col]);
          ds = a.scale * p * (dpt[nt][e] - d_s[col]);
        }
        st[nt][e] = p;
        dpt[nt][e] = ds;
      }
    accumulate<D>(st, Gs, acc_dv);   // dV += P^T dO
    accumulate<D>(dpt, Qs, acc_dk);  // dK += dS^T Q
  }
  const float one[2] = {1.0f, 1.0f};
  store_rows<D>(acc_dk, one, dk + base, a.S, j0);
  store_rows<D>(acc_dv, one, dv + base, a.S, j0);
}

// Per query tile: dQ = sum over key tiles of dS K. The warp owns 16 queries.
template <int D>
__global__ void __launch_bounds__(kThreads) flash_backward_q_kernel(const bf* q, const bf* k, const bf* v, const bf* grad,
                                                                    const float* lse, const float* d_rows, bf* dq, Flash a) {
  __shared__ __align__(128) bf tiles[2 * kTileH<D>];
  bf *Qs = tiles, *Gs = tiles + kTileH<D>, *Ks = tiles, *Vs = tiles + kTileH<D>;  // Gs: dO; Q, dO go to registers first
  const int warp = threadIdx.x / 32;
  const int64_t seq = blockIdx.y, base = seq * a.S * D, q0 = blockIdx.x * int64_t{kTile}, r0 = q0 + warp * 16;
  Rows<D> qa, ga;
  load_fixed_tiles<D>(q + base, grad + base, a.S, q0, Qs, Gs, qa, ga);
  const float c = a.scale * kLog2e;
  float lse_row[2], d_row[2];  // rows g and g + 8 of the warp's 16
  load_row_stats(a, lse + seq * a.S, d_rows + seq * a.S, r0, lse_row, d_row);
  AccD<D> acc = {};
  int64_t begin, end;
  key_tiles(a, blockIdx.x, begin, end);
  for (int64_t kt = begin; kt < end; ++kt) {
    __syncthreads();  // every warp is done with the previous K, V (and with Q's and dO's tiles)
    load_tile<D>(k + base, a.S, kt * kTile, Ks);
    load_tile<D>(v + base, a.S, kt * kTile, Vs);
    __syncthreads();
    Acc s, dp;
    product_bt<D>(qa, Ks, s);   // S = Q K^T
    product_bt<D>(ga, Vs, dp);  // dP = dO V^T
    scores_to_ds(a, q0, r0, kt * kTile, c, lse_row, d_row, s, dp);
    accumulate<D>(s, Ks, acc);  // dQ += dS K
  }
  const float one[2] = {1.0f, 1.0f};
  store_rows<D>(acc, one, dq + base, a.S, r0);
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

template <int D>
void run_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Flash& a, const Tensor& out, const Tensor& lse) {
  const dim3 grid(static_cast<unsigned>((a.S + kTile - 1) / kTile), static_cast<unsigned>(q.numel() / (a.S * D)));
  flash_forward_kernel<D><<<grid, kThreads, 0, current_stream()>>>(in(q), in(k), in(v), out_of(out), lse.data<float>(), a);
  TTT_CUDA_CHECK_LAUNCH();
}

template <int D>
void run_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse, const Tensor& grad,
                  const Flash& a, const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& d_rows) {
  const int64_t rows = q.numel() / D;
  row_dot_kernel<D, bf><<<static_cast<unsigned>((rows * 32 + kBlock - 1) / kBlock), kBlock, 0, current_stream()>>>(
      in(grad), in(out), d_rows.data<float>(), rows);
  TTT_CUDA_CHECK_LAUNCH();
  const dim3 grid(static_cast<unsigned>((a.S + kTile - 1) / kTile), static_cast<unsigned>(q.numel() / (a.S * D)));
  flash_backward_kv_kernel<D><<<grid, kThreads, 0, current_stream()>>>(in(q), in(k), in(v), in(grad), lse.data<float>(),
                                                                       d_rows.data<float>(), out_of(dk), out_of(dv), a);
  TTT_CUDA_CHECK_LAUNCH();
  flash_backward_q_kernel<D><<<grid, kThreads, 0, current_stream()>>>(in(q), in(k), in(v), in(grad), lse.data<float>(),
                                                                      d_rows.data<float>(), out_of(dq), a);
  TTT_CUDA_CHECK_LAUNCH();
}

}  // namespace

void flash_attention(const Tensor& q, const Tensor& k, const Tensor& v, const SoftmaxArgs& mask, MatmulPrecision precision,
                     const Tensor& out, const Tensor& lse) {
  const Flash a = flash_args(q, mask);
  if (q.dtype() == DType::f32)
    flash_attention_f32(q, k, v, a, precision, out, lse);
  else if (q.size(-1) == 128)
    run_forward<128>(q, k, v, a, out, lse);
  else
    run_forward<64>(q, k, v, a, out, lse);
}

void flash_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                              const Tensor& grad, const SoftmaxArgs& mask, MatmulPrecision precision, const Tensor& dq,
                              const Tensor& dk, const Tensor& dv, const Tensor& d_rows) {
  const Flash a = flash_args(q, mask);
  if (q.dtype() == DType::f32)
    flash_attention_f32_backward(q, k, v, out, lse, grad, a, precision, dq, dk, dv, d_rows);
  else if (q.size(-1) == 128)
    run_backward<128>(q, k, v, out, lse, grad, a, dq, dk, dv, d_rows);
  else
    run_backward<64>(q, k, v, out, lse, grad, a, dq, dk, dv, d_rows);
}

}  // namespace ttt::cuda
