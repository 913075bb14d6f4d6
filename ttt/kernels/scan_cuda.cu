// The fused scan on the GPU: one thread block per sequence (batch x head) runs scan_algo.h for
// every mini-batch in order; the per-sequence workspace (inner state, intermediates) is global
// memory that stays in L2. Matrix products are block-wide tiled loops in shared memory, f32 or
// f64 throughout (no TF32), so results match the composed path to rounding.
#include "core/cuda/cuda_check.h"
#include "ttt/kernels/scan_kernels.h"

namespace ttt::scan {

namespace {

constexpr int kThreads = 256;
constexpr int kTileK = 16;

// Block-cooperative executor: every thread of the block calls each method with the same
// arguments; each method ends with a barrier so its results are visible to the next step.
template <class T>
struct BlockExec {
  T* smem;  // kTileK * (TM + TN) elements

  template <class F>
  __device__ void each(int64_t n, F f) {
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) f(i);
    __syncthreads();
  }
  __device__ void copy(T* dst, const T* src, int64_t n) {
    each(n, [=](int64_t i) { dst[i] = src[i]; });
  }

  // C[M, N] = alpha op(A) op(B) + beta C over C tiles of TM x TN (TM * TN = 16 * threads: each
  // thread owns a 4 x 4 set of outputs, strided so neighbouring threads read neighbouring smem).
  __device__ void gemm(int M, int N, int K, T alpha, const T* A, int lda, bool ta, const T* B, int ldb, bool tb,
                       T beta, T* C, int ldc) {
    const int TM = M <= 16 ? 16 : (M <= 32 ? 32 : 64);
    const int TN = 16 * kThreads / TM;  // 256, 128 or 64
    T* As = smem;                       // [kTileK][TM]
    T* Bs = smem + kTileK * TM;         // [kTileK][TN]
    const int tid = threadIdx.x, rows_per = TM / 4, cols_per = TN / 4;
    const int ty = tid / cols_per, tx = tid % cols_per;
    for (int m0 = 0; m0 < M; m0 += TM)
      for (int n0 = 0; n0 < N; n0 += TN) {
        T acc[4][4] = {};
        for (int k0 = 0; k0 < K; k0 += kTileK) {
          for (int e = tid; e < kTileK * TM; e += kThreads) {
            // consecutive threads walk the contiguous dim of A in memory
            const int kk = ta ? e / TM : e % kTileK, mm = ta ? e % TM : e / kTileK;
            const int gm = m0 + mm, gk = k0 + kk;
            As[kk * TM + mm] = (gm < M && gk < K) ? (ta ? A[int64_t(gk) * lda + gm] : A[int64_t(gm) * lda + gk]) : T(0);
          }
          for (int e = tid; e < kTileK * TN; e += kThreads) {
            const int kk = tb ? e % kTileK : e / TN, nn = tb ? e / kTileK : e % TN;
            const int gn = n0 + nn, gk = k0 + kk;
            Bs[kk * TN + nn] = (gn < N && gk < K) ? (tb ? B[int64_t(gn) * ldb + gk] : B[int64_t(gk) * ldb + gn]) : T(0);
          }
          __syncthreads();
#pragma unroll 4
          for (int kk = 0; kk < kTileK; ++kk) {
            T a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) a[i] = As[kk * TM + ty + i * rows_per];
#pragma unroll
            for (int j = 0; j < 4; ++j) b[j] = Bs[kk * TN + tx + j * cols_per];
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
              for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
          }
          __syncthreads();
        }
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
          for (int j = 0; j < 4; ++j) {
            const int gm = m0 + ty + i * rows_per, gn = n0 + tx + j * cols_per;
            if (gm < M && gn < N) {
              T* c = C + int64_t(gm) * ldc + gn;
              *c = alpha * acc[i][j] + (beta == T(0) ? T(0) : beta * *c);
            }
          }
      }
    __syncthreads();
  }
};

template <class T>
__global__ void __launch_bounds__(kThreads) forward_kernel(ScanShape s, SequenceArgs<T> all) {
  extern __shared__ unsigned char raw[];
  BlockExec<T> ex{reinterpret_cast<T*>(raw)};
  const SequenceArgs<T> a = sequence_args(s, all, blockIdx.x);
  Sequence<T, BlockExec<T>>(s, a, ex).forward();
}

template <class T>
__global__ void __launch_bounds__(kThreads) backward_kernel(ScanShape s, SequenceArgs<T> all) {
  extern __shared__ unsigned char raw[];
  BlockExec<T> ex{reinterpret_cast<T*>(raw)};
  const SequenceArgs<T> a = sequence_args(s, all, blockIdx.x);
  Sequence<T, BlockExec<T>>(s, a, ex).backward();
}

// Shared memory for the largest tile shape (TM + TN <= 16 + 256).
template <class T>
constexpr size_t smem_bytes() {
  return sizeof(T) * kTileK * (16 + 16 * kThreads / 16);
}

}  // namespace

template <class T>
void forward_cuda(const ScanShape& s, const SequenceArgs<T>& all) {
  forward_kernel<T><<<s.sequences, kThreads, smem_bytes<T>(), cuda::current_stream()>>>(s, all);
  TTT_CUDA_CHECK_LAUNCH();
}

template <class T>
void backward_cuda(const ScanShape& s, const SequenceArgs<T>& all) {
  backward_kernel<T><<<s.sequences, kThreads, smem_bytes<T>(), cuda::current_stream()>>>(s, all);
  TTT_CUDA_CHECK_LAUNCH();
}

template void forward_cuda<float>(const ScanShape&, const SequenceArgs<float>&);
template void forward_cuda<double>(const ScanShape&, const SequenceArgs<double>&);
template void backward_cuda<float>(const ScanShape&, const SequenceArgs<float>&);
template void backward_cuda<double>(const ScanShape&, const SequenceArgs<double>&);

}  // namespace ttt::scan
