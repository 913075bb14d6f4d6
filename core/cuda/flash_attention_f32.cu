// Flash attention for f32 q, k, v [n, S, D], head dim D 64 or 128: the schedule of the bf16 kernels
// (flash_attention.cu: tiles of 64 queries x 64 keys, 4 warps of 16 rows, the online softmax on
// the products' accumulators in registers, backward as one kernel per key tile and one per query
// tile, no atomics), with f32 operands in shared memory and TF32 tensor-core products
// (mma.sync m16n8k8, f32 sums). run.matmul_precision picks how an operand x enters a product:
//   f32   split in two TF32 numbers, hi = tf32(x) and lo = tf32(x - hi), and each product taken as
//         hi hi + hi lo + lo hi (three mma): what is dropped, lo lo and the last bits of lo, is
//         about 2^-21 of the product, near f32's own rounding (the test measures it against f64).
//   tf32  rounded to TF32 once (nearest even), one mma;
//   bf16  rounded to bf16 once, which TF32 holds exactly, one mma.
// P and dS pass through shared memory between their two products (the accumulator layout of
// m16n8k8 is not its A layout): each warp writes its own 16 rows and reads them back as A operands.
//
// Shared memory (dynamic; D + 4 floats a row, so that the fragment reads of A and of a
// transposed B hit 32 different banks):
//   forward      Q, K, V tiles; P over K's tile once every warp has its scores
//   key tile     K, V (fixed), Q, dO (streamed), one 16 x 64 scratch per warp for P^T, then dS^T
//   query tile   Q, dO (fixed), K, V (streamed), the scratch for dS
// At D = 128 that is 99 / 149 / 149 KiB: two blocks of the forward per SM, one of the backward.
#include <cuda_bf16.h>

#include <type_traits>

#include "core/backend.h"
#include "core/cuda/cuda_check.h"
#include "core/cuda/flash_tiles.cuh"

namespace ttt::cuda {

namespace {

using namespace flash;

template <int D>
constexpr int kLd = D + 4;  // floats per tile row in shared memory
template <int D>
constexpr int kTileF = kTile* kLd<D>;
constexpr int kLdS = kTile + 4;            // floats per row of a warp's scratch (P, dS)
constexpr int kScratch = 16 * kLdS;        // one warp's
constexpr int kScratchAll = 4 * kScratch;  // the block's

// f32 -> TF32, round to nearest even (the CPU's round_to_tf32, core/half.h).
__device__ __forceinline__ float round_tf32(float x) {
  uint32_t r;
  asm("cvt.rn.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return __uint_as_float(r);
}

// How a value is kept in shared memory: rounded once for TF32 and bf16 products, as is for f32
// (split when read).
template <MatmulPrecision P>
__device__ __forceinline__ float staged(float x) {
  if constexpr (P == MatmulPrecision::tf32)
    return round_tf32(x);
  else if constexpr (P == MatmulPrecision::bf16)
    return __bfloat162float(__float2bfloat16_rn(x));
  else
    return x;
}

// An operand fragment of N registers: hi, and for f32 products the remainder lo.
template <MatmulPrecision P, int N>
struct Frag {
  uint32_t hi[N], lo[N];
};
template <MatmulPrecision P, int N>
__device__ __forceinline__ void set(Frag<P, N>& f, int i, float x) {
  if constexpr (P == MatmulPrecision::f32) {
    const float h = round_tf32(x);
    f.hi[i] = __float_as_uint(h);
    f.lo[i] = __float_as_uint(round_tf32(x - h));
  } else {
    f.hi[i] = __float_as_uint(x);  // rounded when staged
  }
}

__device__ __forceinline__ void mma_tf32(float (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// c += a b for a 16 x 8 tile, k = 8 (the small terms first).
template <MatmulPrecision P>
__device__ __forceinline__ void mma(float (&c)[4], const Frag<P, 4>& a, const Frag<P, 2>& b) {
  if constexpr (P == MatmulPrecision::f32) {
    mma_tf32(c, a.hi, b.lo);
    mma_tf32(c, a.lo, b.hi);
  }
  mma_tf32(c, a.hi, b.hi);
}

// The warp's A fragment for rows [r0, r0 + 16), columns [k0, k0 + 8) of a row-major array of row
// length ld (PTX m16n8k8: a0 (g, t), a1 (g + 8, t), a2 (g, t + 4), a3 (g + 8, t + 4)).
template <MatmulPrecision P>
__device__ __forceinline__ void load_a(Frag<P, 4>& a, const float* x, int ld, int r0, int k0) {
  const int g = threadIdx.x % 32 / 4, t = threadIdx.x % 4;
  set(a, 0, x[(r0 + g) * ld + k0 + t]);
  set(a, 1, x[(r0 + g + 8) * ld + k0 + t]);
  set(a, 2, x[(r0 + g) * ld + k0 + t + 4]);
  set(a, 3, x[(r0 + g + 8) * ld + k0 + t + 4]);
}

template <int D>
using AccD = float[D / 8][4];  // 16 x D

// c = a b^T, a the warp's 16 rows from row r0 of tile `as`, b the 64 rows of tile `bs`:
// c[r][n] = sum_k as[r0 + r][k] bs[n][k] (S = Q K^T, dP = dO V^T, and transposed in backward).
template <int D, MatmulPrecision P>
__device__ void product_bt(const float* as, int r0, const float* bs, Acc& c) {
  const int g = threadIdx.x % 32 / 4, t = threadIdx.x % 4;
#pragma unroll
  for (int nt = 0; nt < 8; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) c[nt][e] = 0.0f;
#pragma unroll 2
  for (int k0 = 0; k0 < D; k0 += 8) {
    Frag<P, 4> a;
    load_a(a, as, kLd<D>, r0, k0);
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
      Frag<P, 2> b;  // b0 (k = t, n = g), b1 (k = t + 4, n = g)
      set(b, 0, bs[(nt * 8 + g) * kLd<D> + k0 + t]);
      set(b, 1, bs[(nt * 8 + g) * kLd<D> + k0 + t + 4]);
      mma(c[nt], a, b);
    }
  }
}

// c += p tile: p the warp's 16 x 64 scratch, the tile [64][D] row-major [k][n] (O += P V,
// dV += P^T dO, dK += dS^T Q, dQ += dS K).
template <int D, MatmulPrecision P>
__device__ void accumulate(const float* p, const float* tile, AccD<D>& c) {
  const int g = threadIdx.x % 32 / 4, t = threadIdx.x % 4;
#pragma unroll 2
  for (int k0 = 0; k0 < kTile; k0 += 8) {
    Frag<P, 4> a;
    load_a(a, p, kLdS, 0, k0);
#pragma unroll
    for (int nt = 0; nt < D / 8; ++nt) {
      Frag<P, 2> b;
      set(b, 0, tile[(k0 + t) * kLd<D> + nt * 8 + g]);
      set(b, 1, tile[(k0 + t + 4) * kLd<D> + nt * 8 + g]);
      mma(c[nt], a, b);
    }
  }
}

// The warp's accumulators into its scratch (rounded as an operand is staged), for accumulate.
template <MatmulPrecision P>
__device__ __forceinline__ void to_scratch(const Acc& c, float* p) {
#pragma unroll
  for (int nt = 0; nt < 8; ++nt)
#pragma unroll
    for (int h = 0; h < 2; ++h)
      *reinterpret_cast<float2*>(p + acc_row(2 * h) * kLdS + acc_col(nt, 0)) =
          make_float2(staged<P>(c[nt][2 * h]), staged<P>(c[nt][2 * h + 1]));
  __syncwarp();
}

// Rows [r0, r0 + 64) of a row-major [S, D] matrix into a tile, staged for the products; rows past
// S are zero.
template <int D, MatmulPrecision P>
__device__ void load_tile(const float* src, int64_t S, int64_t r0, float* tile) {
  for (int idx = threadIdx.x; idx < kTile * D / 4; idx += kThreads) {
    const int r = idx / (D / 4), c = idx % (D / 4) * 4;
    float4 v = make_float4(0, 0, 0, 0);
    if (r0 + r < S) v = *reinterpret_cast<const float4*>(src + (r0 + r) * D + c);
    *reinterpret_cast<float4*>(tile + r * kLd<D> + c) =
        make_float4(staged<P>(v.x), staged<P>(v.y), staged<P>(v.z), staged<P>(v.w));
  }
}

// Writes the warp's 16 rows (from row r0 of [S, D]) of accumulators c, scaled per row.
template <int D>
__device__ void store_rows(const AccD<D>& c, const float (&row_scale)[2], float* dst, int64_t S, int64_t r0) {
#pragma unroll
  for (int nt = 0; nt < D / 8; ++nt)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int64_t row = r0 + acc_row(2 * h);
      if (row < S)
        *reinterpret_cast<float2*>(dst + row * D + acc_col(nt, 0)) =
            make_float2(c[nt][2 * h] * row_scale[h], c[nt][2 * h + 1] * row_scale[h]);
    }
}

template <int D, MatmulPrecision P>
__global__ void __launch_bounds__(kThreads)
    flash_forward_f32_kernel(const float* q, const float* k, const float* v, float* out, float* lse, Flash a) {
  extern __shared__ __align__(16) float smem[];
  float *Qs = smem, *Ks = Qs + kTileF<D>, *Vs = Ks + kTileF<D>;
  const int warp = threadIdx.x / 32;
  float* Ps = Ks + warp * kScratch;  // the warp's P, over K's tile once every warp has its scores
  const int64_t base = blockIdx.y * a.S * D, q0 = blockIdx.x * int64_t{kTile}, r0 = q0 + warp * 16;
  load_tile<D, P>(q + base, a.S, q0, Qs);
  const float c = a.scale * kLog2e;                          // exp(scale s) = exp2(c s): the statistics are in log2 units
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};  // this lane's part of rows g, g + 8
  AccD<D> o = {};
  int64_t begin, end;
  key_tiles(a, blockIdx.x, begin, end);
  for (int64_t kt = begin; kt < end; ++kt) {
    __syncthreads();  // every warp is done with the previous P (in K's tile) and V
    load_tile<D, P>(k + base, a.S, kt * kTile, Ks);
    load_tile<D, P>(v + base, a.S, kt * kTile, Vs);
    __syncthreads();
    Acc s;
    product_bt<D, P>(Qs, warp * 16, Ks, s);  // S = Q K^T, the warp's 16 rows
    float alpha[2];
    online_softmax(a, q0, r0, kt * kTile, c, s, m, l, alpha);
#pragma unroll
    for (int nt = 0; nt < D / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[nt][e] *= alpha[e / 2];
    __syncthreads();  // every warp's scores are in: K's tile becomes the scratch
    to_scratch<P>(s, Ps);
    accumulate<D, P>(Ps, Vs, o);  // O += P V
  }
  float inv_l[2];
  finish_rows(a, r0, m, l, lse + blockIdx.y * a.S, inv_l);
  store_rows<D>(o, inv_l, out + base, a.S, r0);
}

// Per key tile: dV = sum over query tiles of P^T dO, dK = sum of dS^T Q. The warp owns 16 keys;
// its products run transposed (rows = keys, columns = queries). P^T goes to the scratch for dV,
// then is read back there for dS^T = scale P^T (dP^T - D), which takes its place for dK.
template <int D, MatmulPrecision P>
__global__ void __launch_bounds__(kThreads)
    flash_backward_kv_f32_kernel(const float* q, const float* k, const float* v, const float* grad, const float* lse,
                                 const float* d_rows, float* dk, float* dv, Flash a) {
  extern __shared__ __align__(16) float smem[];
  float *Ks = smem, *Vs = Ks + kTileF<D>, *Qs = Vs + kTileF<D>, *Gs = Qs + kTileF<D>;  // Gs: dO
  const int warp = threadIdx.x / 32;
  float* scratch = Gs + kTileF<D> + warp * kScratch;
  __shared__ float lse_s[kTile], d_s[kTile];
  const int64_t seq = blockIdx.y, base = seq * a.S * D, k0 = blockIdx.x * int64_t{kTile}, j0 = k0 + warp * 16;
  load_tile<D, P>(k + base, a.S, k0, Ks);
  load_tile<D, P>(v + base, a.S, k0, Vs);
  const float c = a.scale * kLog2e;
  AccD<D> acc_dk = {}, acc_dv = {};
  int64_t begin, end;
  query_tiles(a, blockIdx.x, begin, end);
  for (int64_t qt = begin; qt < end; ++qt) {
    const int64_t q0 = qt * kTile;
    __syncthreads();  // every warp is done with the previous Q, dO
    load_tile<D, P>(q + base, a.S, q0, Qs);
    load_tile<D, P>(grad + base, a.S, q0, Gs);
    load_tile_stats(a, lse + seq * a.S, d_rows + seq * a.S, q0, lse_s, d_s);
    __syncthreads();
    const bool check = tile_needs_mask(a, q0, k0);
    Acc x;
    product_bt<D, P>(Ks, warp * 16, Qs, x);  // S^T = K Q^T
    float p[8][4];                           // P^T, kept exact for dS
#pragma unroll
    for (int nt = 0; nt < 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int col = acc_col(nt, e);
        const bool open = !(check && blocked(a, q0 + col, j0 + acc_row(e)));
        p[nt][e] = open ? exp2f(x[nt][e] * c - lse_s[col]) : 0.0f;
      }
    to_scratch<P>(p, scratch);
    accumulate<D, P>(scratch, Gs, acc_dv);   // dV += P^T dO
    product_bt<D, P>(Vs, warp * 16, Gs, x);  // dP^T = V dO^T
#pragma unroll
    for (int nt = 0; nt < 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) x[nt][e] = a.scale * p[nt][e] * (x[nt][e] - d_s[acc_col(nt, e)]);
    __syncwarp();  // the warp is done reading P^T
    to_scratch<P>(x, scratch);
    accumulate<D, P>(scratch, Qs, acc_dk);  // dK += dS^T Q
  }
  const float one[2] = {1.0f, 1.0f};
  store_rows<D>(acc_dk, one, dk + base, a.S, j0);
  store_rows<D>(acc_dv, one, dv + base, a.S, j0);
}

// Per query tile: dQ = sum over key tiles of dS K. The warp owns 16 queries.
template <int D, MatmulPrecision P>
__global__ void __launch_bounds__(kThreads)
    flash_backward_q_f32_kernel(const float* q, const float* k, const float* v, const float* grad, const float* lse,
                                const float* d_rows, float* dq, Flash a) {
  extern __shared__ __align__(16) float smem[];
  float *Qs = smem, *Gs = Qs + kTileF<D>, *Ks = Gs + kTileF<D>, *Vs = Ks + kTileF<D>;  // Gs: dO
  const int warp = threadIdx.x / 32;
  float* scratch = Vs + kTileF<D> + warp * kScratch;
  const int64_t seq = blockIdx.y, base = seq * a.S * D, q0 = blockIdx.x * int64_t{kTile}, r0 = q0 + warp * 16;
  load_tile<D, P>(q + base, a.S, q0, Qs);
  load_tile<D, P>(grad + base, a.S, q0, Gs);
  const float c = a.scale * kLog2e;
  float lse_row[2], d_row[2];  // rows g and g + 8 of the warp's 16
  load_row_stats(a, lse + seq * a.S, d_rows + seq * a.S, r0, lse_row, d_row);
  AccD<D> acc = {};
  int64_t begin, end;
  key_tiles(a, blockIdx.x, begin, end);
  for (int64_t kt = begin; kt < end; ++kt) {
    __syncthreads();  // every warp is done with the previous K, V
    load_tile<D, P>(k + base, a.S, kt * kTile, Ks);
    load_tile<D, P>(v + base, a.S, kt * kTile, Vs);
    __syncthreads();
    Acc s, dp;
    product_bt<D, P>(Qs, warp * 16, Ks, s);   // S = Q K^T
    product_bt<D, P>(Gs, warp * 16, Vs, dp);  // dP = dO V^T
    scores_to_ds(a, q0, r0, kt * kTile, c, lse_row, d_row, s, dp);
    to_scratch<P>(s, scratch);
    accumulate<D, P>(scratch, Ks, acc);  // dQ += dS K
  }
  const float one[2] = {1.0f, 1.0f};
  store_rows<D>(acc, one, dq + base, a.S, r0);
}

template <int D>
constexpr size_t kForwardSmem = 3 * kTileF<D> * sizeof(float);
template <int D>
constexpr size_t kBackwardSmem = (4 * kTileF<D> + kScratchAll) * sizeof(float);

dim3 tile_grid(const Tensor& q, int64_t S, int D) {
  return dim3(static_cast<unsigned>((S + kTile - 1) / kTile), static_cast<unsigned>(q.numel() / (S * D)));
}

template <int D, MatmulPrecision P>
void forward(const Tensor& q, const Tensor& k, const Tensor& v, const Flash& a, const Tensor& out, const Tensor& lse) {
  allow_dynamic_shared_memory(reinterpret_cast<const void*>(flash_forward_f32_kernel<D, P>), kForwardSmem<D>, "flash_attention");
  flash_forward_f32_kernel<D, P><<<tile_grid(q, a.S, D), kThreads, kForwardSmem<D>, current_stream()>>>(
      q.data<float>(), k.data<float>(), v.data<float>(), out.data<float>(), lse.data<float>(), a);
  TTT_CUDA_CHECK_LAUNCH();
}

template <int D, MatmulPrecision P>
void backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse, const Tensor& grad,
              const Flash& a, const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& d_rows) {
  allow_dynamic_shared_memory(reinterpret_cast<const void*>(flash_backward_kv_f32_kernel<D, P>), kBackwardSmem<D>,
                              "flash_attention_backward");
  allow_dynamic_shared_memory(reinterpret_cast<const void*>(flash_backward_q_f32_kernel<D, P>), kBackwardSmem<D>,
                              "flash_attention_backward");
  const int64_t rows = q.numel() / D;
  row_dot_kernel<D, float><<<static_cast<unsigned>((rows * 32 + kBlock - 1) / kBlock), kBlock, 0, current_stream()>>>(
      grad.data<float>(), out.data<float>(), d_rows.data<float>(), rows);
  TTT_CUDA_CHECK_LAUNCH();
  const dim3 grid = tile_grid(q, a.S, D);
  flash_backward_kv_f32_kernel<D, P><<<grid, kThreads, kBackwardSmem<D>, current_stream()>>>(
      q.data<float>(), k.data<float>(), v.data<float>(), grad.data<float>(), lse.data<float>(), d_rows.data<float>(),
      dk.data<float>(), dv.data<float>(), a);
  TTT_CUDA_CHECK_LAUNCH();
  flash_backward_q_f32_kernel<D, P><<<grid, kThreads, kBackwardSmem<D>, current_stream()>>>(
      q.data<float>(), k.data<float>(), v.data<float>(), grad.data<float>(), lse.data<float>(), d_rows.data<float>(),
      dq.data<float>(), a);
  TTT_CUDA_CHECK_LAUNCH();
}

// The instantiation for (head dim, precision) as a call of f.
template <class F>
void dispatch(int64_t d, MatmulPrecision p, F&& f) {
  auto by_dim = [&](auto precision) {
    if (d == 128)
      f(std::integral_constant<int, 128>{}, precision);
    else
      f(std::integral_constant<int, 64>{}, precision);
  };
  switch (p) {
    case MatmulPrecision::f32:
      by_dim(std::integral_constant<MatmulPrecision, MatmulPrecision::f32>{});
      break;
    case MatmulPrecision::tf32:
      by_dim(std::integral_constant<MatmulPrecision, MatmulPrecision::tf32>{});
      break;
    case MatmulPrecision::bf16:
      by_dim(std::integral_constant<MatmulPrecision, MatmulPrecision::bf16>{});
      break;
  }
}

}  // namespace

void flash_attention_f32(const Tensor& q, const Tensor& k, const Tensor& v, const Flash& a, MatmulPrecision precision,
                         const Tensor& out, const Tensor& lse) {
  dispatch(q.size(-1), precision, [&](auto d, auto p) { forward<decltype(d)::value, decltype(p)::value>(q, k, v, a, out, lse); });
}

void flash_attention_f32_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                                  const Tensor& grad, const Flash& a, MatmulPrecision precision, const Tensor& dq,
                                  const Tensor& dk, const Tensor& dv, const Tensor& d_rows) {
  dispatch(q.size(-1), precision, [&](auto d, auto p) {
    backward<decltype(d)::value, decltype(p)::value>(q, k, v, out, lse, grad, a, dq, dk, dv, d_rows);
  });
}

}  // namespace ttt::cuda
