// Products of a few rows (m <= 4) by a transposed B: a streaming step's Linear layers, y = x W^T
// for one token per sequence. cuBLAS's kernels tile for many rows; at one row most of each tile is
// idle. Here every element of B is read once and multiplied into each row of A: one warp per
// output column j, its lanes reading B's row j in 16-byte packs, then a warp sum. f32 sums, as
// cuBLAS's f32 and bf16 products; chosen by cuda::matmul (core/cuda/matmul.cpp). `accumulate` adds
// the product to C (cuBLAS's beta = 1: one rounding of C + the f32 sum), as a residual stream's
// output projection does (Linear::forward_add).
#include <cstdlib>
#include <cstring>

#include "core/backend.h"
#include "core/cuda/bf16.cuh"
#include "core/cuda/cuda_check.h"
#include "core/cuda/grid_stride.cuh"

namespace ttt::cuda {

namespace {

constexpr int kMaxRows = 4;
constexpr int kWarpsPerBlock = 8;

template <class T>
constexpr int kPack = 16 / static_cast<int>(sizeof(T));  // elements in 16 bytes

template <class T, bool kPacked>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    rows_times_bt_kernel(const T* a, const T* b, T* c, int m, int n, int k, int64_t sa, int64_t sb, int64_t sc, bool accumulate) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int j = blockIdx.x * kWarpsPerBlock + warp;
  if (j >= n) return;
  const T* bj = b + blockIdx.y * sb + static_cast<int64_t>(j) * k;
  const T* ab = a + blockIdx.y * sa;
  float acc[kMaxRows] = {0.0f, 0.0f, 0.0f, 0.0f};
  if constexpr (kPacked) {
    constexpr int P = kPack<T>;
    for (int i0 = lane * P; i0 < k; i0 += 32 * P) {
      T w[P];
      *reinterpret_cast<uint4*>(w) = *reinterpret_cast<const uint4*>(bj + i0);
      for (int r = 0; r < kMaxRows; ++r) {
        if (r >= m) break;
        T x[P];
        *reinterpret_cast<uint4*>(x) = *reinterpret_cast<const uint4*>(ab + static_cast<int64_t>(r) * k + i0);
        for (int e = 0; e < P; ++e) acc[r] += load_f32(x[e]) * load_f32(w[e]);
      }
    }
  } else {
    for (int i = lane; i < k; i += 32) {
      const float w = load_f32(bj[i]);
      for (int r = 0; r < kMaxRows && r < m; ++r) acc[r] += load_f32(ab[static_cast<int64_t>(r) * k + i]) * w;
    }
  }
  for (int r = 0; r < kMaxRows && r < m; ++r) {
    float s = acc[r];
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    T& out = c[blockIdx.y * sc + static_cast<int64_t>(r) * n + j];
    if (lane == 0) out = store_as<T>(accumulate ? load_f32(out) + s : s);
  }
}

bool enabled() {
  static const bool on = [] {
    const char* v = std::getenv("TTT_SMALL_MATMUL");  // 0: cuBLAS for these too (bench/generate_bench.sh compares)
    return !(v && std::strcmp(v, "0") == 0);
  }();
  return on;
}

}  // namespace

bool small_rows_matmul(const Tensor& a, const Tensor& b, const Tensor& c, const MatmulArgs& g) {
  const bool plain = g.lda == 0 && g.ldb == 0 && g.ldc == 0 && g.offset_a == 0 && g.offset_b == 0 && g.offset_c == 0;
  const bool exact_f32 = a.dtype() == DType::f32 && g.precision == MatmulPrecision::f32;  // TF32/bf16 modes: cuBLAS rounds
  if (!enabled() || g.m > kMaxRows || g.trans_a || !plain || c.dtype() != a.dtype() || !(exact_f32 || a.dtype() == DType::bf16) ||
      g.batch > 65535 || g.n > (1 << 30) || g.k > (1 << 30))
    return false;
  // x W (the TTT state's f32 products) stays on cuBLAS: a thread per column, walking all of k, was
  // slower there (measured with bench/generate_bench.sh on the Moshi 7B step with TTT branches)
  if (!g.trans_b) return false;
  const int m = static_cast<int>(g.m), n = static_cast<int>(g.n), k = static_cast<int>(g.k);
  const dim3 grid_bt((n + kWarpsPerBlock - 1) / kWarpsPerBlock, static_cast<unsigned>(g.batch));
  dispatch_f32_bf16(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* pc = c.data<T>();
    constexpr int P = kPack<T>;
    if (k % P == 0 && g.stride_a % P == 0 && g.stride_b % P == 0 && aligned16(pa) && aligned16(pb))
      rows_times_bt_kernel<T, true><<<grid_bt, kWarpsPerBlock * 32, 0, current_stream()>>>(pa, pb, pc, m, n, k, g.stride_a,
                                                                                           g.stride_b, g.stride_c, g.accumulate);
    else
      rows_times_bt_kernel<T, false><<<grid_bt, kWarpsPerBlock * 32, 0, current_stream()>>>(pa, pb, pc, m, n, k, g.stride_a,
                                                                                            g.stride_b, g.stride_c, g.accumulate);
  });
  TTT_CUDA_CHECK_LAUNCH();
  return true;
}

}  // namespace ttt::cuda
