// The fused scan on the GPU: one thread block (or a cluster of two or four, below) per sequence
// (batch x head) runs scan_algo.h for every mini-batch in order; the per-sequence workspace
// (inner state, intermediates) is global memory that stays in L2. Matrix products are block-wide
// tiled loops in shared memory: f32 FMAs by default (results match the composed path to rounding),
// or, with ttt.scan_precision tf32 / bf16, tensor-core mma with operands rounded to that format and
// f32 sums (scan_mma.cuh; everything outside the products stays f32).
//
// When twice the sequences fit on the GPU's SMs (the default, set_cuda_blocks_per_sequence(0)), a
// thread-block cluster of 2 blocks per sequence shares each step's work (matrix tiles, elementwise
// ranges) and meets at a cluster barrier after every step instead of a block barrier, so that
// B x H sequences use twice as many SMs (measured faster: docs/performance.md). The
// cluster size is a template parameter; a cluster of four (set_cuda_blocks_per_sequence(4)) is
// there for few sequences, e.g. the 32 heads of one sequence at batch 1.
#include <cooperative_groups.h>

#include <type_traits>

#include "core/cuda/cuda_check.h"
#include "core/error.h"
#include "ttt/kernels/scan_kernels.h"
#include "ttt/kernels/scan_mma.cuh"

namespace ttt::scan {

namespace {

constexpr int kTileK = 32;       // the K-slab of one tile step
constexpr int kSK = kTileK + 4;  // the padded row of a k-contiguous tensor-core slab (mma_tile)
// Floats of one tensor-core slab of `rows` rows (m or n) in the larger of its two layouts: k-major
// rows of rows + 8, or k-contiguous rows of kSK (mma_tile).
constexpr int mma_slab_size(int rows) { return kTileK * (rows + 8) > rows * kSK ? kTileK * (rows + 8) : rows * kSK; }

// Block-cooperative executor: every thread of the block (of every block of the sequence's
// cluster) calls each method with the same arguments; the blocks split the work by `rank`, and
// each method ends with a barrier so its results are visible to the next step. kPrecision: the
// matrix products' (f32 FMAs, or TF32 / bf16 tensor cores with f32 sums).
template <class T, int kThreads, int kRanks, MatmulPrecision kPrecision>
struct BlockExec {
  T* smem;        // two padded tiles (smem_bytes)
  int rank_ = 0;  // this block's place among the sequence's kRanks blocks

  __device__ int rank() const { return kRanks == 1 ? 0 : rank_; }

  // The block's barrier, or the cluster's (its release/acquire also makes each block's global
  // memory writes visible to the other blocks of the cluster).
  __device__ void barrier() {
    if constexpr (kRanks == 1) {
      __syncthreads();
    } else {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
      cooperative_groups::this_cluster().sync();
#else
      __trap();  // clusters need sm_90; blocks_for never launches this kernel on older GPUs
#endif
    }
  }
  // The barrier that ends every step; with share_barriers, skipped inside a group of independent
  // steps (together()), which ends with one barrier instead. (A tile loop's own __syncthreads
  // still guard the shared-memory tiles between the group's matrix products.)
  __device__ void sync() {
    if (!in_group_) barrier();
  }
  bool share_barriers = false;
  bool in_group_ = false;
  // rotate_tiles: inside a group, the products' tiles are dealt to the cluster's blocks in one
  // round robin across the group (rotation_: where the next product's first tile goes), so that
  // two one-tile products of a group run on different blocks instead of both on block 0.
  bool rotate_tiles = false;
  int rotation_ = 0;
  struct Together {
    BlockExec& ex;
    __device__ ~Together() {
      if (!ex.in_group_) return;
      ex.in_group_ = false;
      ex.rotation_ = 0;
      ex.barrier();
    }
  };
  __device__ Together together() {
    in_group_ = share_barriers;
    return Together{*this};
  }

  // Block `rank` takes the rank-th of kRanks contiguous parts of [0, n) (so that short loops over
  // rows still give every block work).
  __device__ int part_begin(int n) const { return kRanks == 1 ? 0 : rank() * ((n + kRanks - 1) / kRanks); }
  __device__ int part_end(int n) const { return kRanks == 1 ? n : min(n, part_begin(n) + (n + kRanks - 1) / kRanks); }

  template <class F>
  __device__ void each(int n, F f) {
    const int end = part_end(n);
    for (int i = part_begin(n) + threadIdx.x; i < end; i += kThreads) f(i);
    sync();
  }
  // each(n, read, write): every thread reads U elements (their loads in flight together), then
  // writes them (scan_algo.h's Vals). U = 4 raised the backward kernel's spills to 988 B of loads
  // per thread (ptxas), U = 2 keeps them at 572 B; which is faster is for a GPU run to say.
  template <class Read, class Write>
  __device__ void each(int n, Read read, Write write) {
    constexpr int U = 2;
    using Values = decltype(read(0));
    const int end = part_end(n);
    for (int base = part_begin(n) + threadIdx.x; base < end; base += U * kThreads) {
      Values in[U];
#pragma unroll
      for (int u = 0; u < U; ++u)
        if (base + u * kThreads < end) in[u] = read(base + u * kThreads);
#pragma unroll
      for (int u = 0; u < U; ++u)
        if (base + u * kThreads < end) write(base + u * kThreads, in[u]);
    }
    sync();
  }
  // A row per warp: the warp's lanes stride over the row, and sum() adds a value over the lanes
  // (butterfly shuffles, so that every lane holds the total). Rows r go to the sequence's warps
  // in turn, across the cluster's blocks.
  struct WarpRow {
    int lane;
    static constexpr int lanes = 32;
    __device__ T sum(T v) const {
#pragma unroll
      for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
      return v;
    }
  };
  template <class F>
  __device__ void each_row(int n, F f) {
    constexpr int warps = kThreads / 32;
    for (int r = rank() * warps + int(threadIdx.x) / 32; r < n; r += kRanks * warps) f(r, WarpRow{int(threadIdx.x) % 32});
    sync();
  }
  // Four loads in flight per thread before the stores (copies of the inner state are L2 bound).
  __device__ void copy(T* dst, const T* src, int n) {
    constexpr int U = 4;
    const int end = part_end(n);
    for (int base = part_begin(n) + threadIdx.x; base < end; base += U * kThreads) {
      T v[U];
#pragma unroll
      for (int u = 0; u < U; ++u) v[u] = base + u * kThreads < end ? src[base + u * kThreads] : T(0);
#pragma unroll
      for (int u = 0; u < U; ++u)
        if (base + u * kThreads < end) dst[base + u * kThreads] = v[u];
    }
    sync();
  }

  // C[M, N] = alpha op(A) op(B) + beta C with the tile shape (TM x TN, same area) that needs the
  // fewest rounds of tiles per block (one block: the fewest tiles).
  __device__ __forceinline__ void gemm(int M, int N, int K, T alpha, const T* A, int lda, bool ta, const T* B, int ldb, bool tb,
                                       T beta, T* C, int ldc) {
    int best = 0, best_rounds = 1 << 30;
    for (int c = 1; c < 3; ++c) {  // TM = 32, 64 (TM = 16 would hold 32 prefetch registers for B: spills)
      const int tm = 16 << c, tn = 16 * kThreads / tm, tiles = ((M + tm - 1) / tm) * ((N + tn - 1) / tn);
      const int rounds = (tiles + kRanks - 1) / kRanks;
      if (rounds <= best_rounds) best = c, best_rounds = rounds;  // ties: the taller tile
    }
    if (best == 1)
      gemm_transposes<32>(M, N, K, alpha, A, lda, ta, B, ldb, tb, beta, C, ldc);
    else
      gemm_transposes<64>(M, N, K, alpha, A, lda, ta, B, ldb, tb, beta, C, ldc);
    sync();
  }

  // The transposes become template arguments, so that each thread's load addresses are a few
  // compile-time strides instead of divisions and selects on every K-slab.
  template <int TM>
  __device__ __forceinline__ void gemm_transposes(int M, int N, int K, T alpha, const T* A, int lda, bool ta, const T* B, int ldb,
                                                  bool tb, T beta, T* C, int ldc) {
    if (ta) {
      if (tb)
        tiled_gemm<TM, true, true>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      else
        tiled_gemm<TM, true, false>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    } else {
      if (tb)
        tiled_gemm<TM, false, true>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      else
        tiled_gemm<TM, false, false>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    }
  }

  // C tiles of TM x TN (TM * TN = 16 * threads: each thread owns 4 x 4 outputs, strided so that
  // neighbouring threads read neighbouring shared memory); block `rank` computes tiles rank,
  // rank + kRanks, ... The next K-slab is fetched into registers while the current one is
  // multiplied, hiding the L2 latency. Shared rows are padded by one element so that the
  // transposing stores do not pile onto one bank.
  template <int TM, bool ta, bool tb>
  __device__ __noinline__ void tiled_gemm(int M, int N, int K, T alpha, const T* A, int lda, const T* B, int ldb, T beta, T* C,
                                          int ldc) {
    constexpr int TN = 16 * kThreads / TM;
    if constexpr (kRanks == 1) {
      for (int m0 = 0; m0 < M; m0 += TM)
        for (int n0 = 0; n0 < N; n0 += TN) one_tile<TM, ta, tb>(m0, n0, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    } else {
      const int tiles_n = (N + TN - 1) / TN, tiles = (M + TM - 1) / TM * tiles_n;
      // tile t goes to block (t + rotation_) % kRanks: each tile to exactly one block either way
      const int first = (rank() + kRanks - rotation_) % kRanks;
      for (int t = first; t < tiles; t += kRanks)
        one_tile<TM, ta, tb>(t / tiles_n * TM, t % tiles_n * TN, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      if (rotate_tiles && in_group_) rotation_ = (rotation_ + tiles) % kRanks;
    }
  }

  // Each thread's share of a K-slab of A (TM x kTileK) and B (kTileK x TN), fetched into registers
  // while the previous slab is multiplied (hiding the L2 latency), then stashed in shared memory.
  // Consecutive threads walk the contiguous dim of A and B in memory. Both tile kinds use it.
  template <int TM, int TN, bool ta, bool tb>
  struct Slab {
    static constexpr int kAPer = kTileK * TM / kThreads, kBPer = kTileK * TN / kThreads;
    static_assert(kAPer * kThreads == kTileK * TM && kBPer * kThreads == kTileK * TN, "each thread loads whole tiles");
    T ra[kAPer], rb[kBPer];
    // the (k, m) of A and (k, n) of B that this thread's element r holds
    __device__ static int a_k(int r) { return ta ? e(r) / TM : e(r) % kTileK; }
    __device__ static int a_m(int r) { return ta ? e(r) % TM : e(r) / kTileK; }
    __device__ static int b_k(int r) { return tb ? e(r) % kTileK : e(r) / TN; }
    __device__ static int b_n(int r) { return tb ? e(r) / kTileK : e(r) % TN; }
    __device__ static int e(int r) { return int(threadIdx.x) + r * kThreads; }

    __device__ void fetch(int m0, int n0, int k0, int M, int N, int K, const T* A, int lda, const T* B, int ldb) {
#pragma unroll
      for (int r = 0; r < kAPer; ++r) {
        const int gm = m0 + a_m(r), gk = k0 + a_k(r);
        ra[r] = (gm < M && gk < K) ? (ta ? A[int64_t(gk) * lda + gm] : A[int64_t(gm) * lda + gk]) : T(0);
      }
#pragma unroll
      for (int r = 0; r < kBPer; ++r) {
        const int gn = n0 + b_n(r), gk = k0 + b_k(r);
        rb[r] = (gn < N && gk < K) ? (tb ? B[int64_t(gn) * ldb + gk] : B[int64_t(gk) * ldb + gn]) : T(0);
      }
    }
    // put_a(k, m, value), put_b(k, n, value): where the tile kind keeps them
    template <class PutA, class PutB>
    __device__ void stash(PutA put_a, PutB put_b) const {
#pragma unroll
      for (int r = 0; r < kAPer; ++r) put_a(a_k(r), a_m(r), ra[r]);
#pragma unroll
      for (int r = 0; r < kBPer; ++r) put_b(b_k(r), b_n(r), rb[r]);
    }
  };

  // C = alpha acc + beta C for the outputs (row(i), col(i)) this thread holds in acc[i], i < n.
  // C's old values are all loaded before the first store: a store may alias a later load as far
  // as the compiler knows, so interleaving them would wait out a memory round trip per output.
  template <int n, class Row, class Col>
  __device__ __forceinline__ static void write_tile(T (&acc)[n], Row row, Col col, int M, int N, T alpha, T beta, T* C, int ldc) {
    if (beta != T(0)) {
#pragma unroll
      for (int i = 0; i < n; ++i) {
        const int gm = row(i), gn = col(i);
        acc[i] = alpha * acc[i] + (gm < M && gn < N ? beta * C[int64_t(gm) * ldc + gn] : T(0));
      }
    } else {
#pragma unroll
      for (int i = 0; i < n; ++i) acc[i] *= alpha;
    }
#pragma unroll
    for (int i = 0; i < n; ++i) {
      const int gm = row(i), gn = col(i);
      if (gm < M && gn < N) C[int64_t(gm) * ldc + gn] = acc[i];
    }
  }

  // The output tile at (m0, n0): f32 FMAs, or tensor cores (kPrecision TF32 / bf16).
  template <int TM, bool ta, bool tb>
  __device__ __forceinline__ void one_tile(int m0, int n0, int M, int N, int K, T alpha, const T* A, int lda, const T* B, int ldb,
                                           T beta, T* C, int ldc) {
    if constexpr (kPrecision == MatmulPrecision::f32)
      fma_tile<TM, ta, tb>(m0, n0, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
      mma_tile<TM, ta, tb>(m0, n0, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }

  // f32: each thread owns 4 x 4 outputs, strided so that neighbouring threads read neighbouring
  // shared memory. The slabs are kept k-major (As[k][m], Bs[k][n]), rows padded by one element so
  // that the transposing stores do not pile onto one bank.
  template <int TM, bool ta, bool tb>
  __device__ __forceinline__ void fma_tile(int m0, int n0, int M, int N, int K, T alpha, const T* A, int lda, const T* B, int ldb,
                                           T beta, T* C, int ldc) {
    constexpr int TN = 16 * kThreads / TM;
    constexpr int rows_per = TM / 4, cols_per = TN / 4;
    constexpr int SA = TM + 1, SB = TN + 1;  // padded row strides
    T* As = smem;                            // [kTileK][SA]
    T* Bs = smem + kTileK * SA;              // [kTileK][SB]
    const int tid = threadIdx.x, ty = tid / cols_per, tx = tid % cols_per;
    Slab<TM, TN, ta, tb> slab;
    T acc[16] = {};
    slab.fetch(m0, n0, 0, M, N, K, A, lda, B, ldb);
    for (int k0 = 0; k0 < K; k0 += kTileK) {
      slab.stash([&](int k, int m, T v) { As[k * SA + m] = v; }, [&](int k, int n, T v) { Bs[k * SB + n] = v; });
      __syncthreads();
      if (k0 + kTileK < K) slab.fetch(m0, n0, k0 + kTileK, M, N, K, A, lda, B, ldb);
#pragma unroll
      for (int kk = 0; kk < kTileK; ++kk) {
        T a[4], b[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) a[i] = As[kk * SA + ty + i * rows_per];
#pragma unroll
        for (int j = 0; j < 4; ++j) b[j] = Bs[kk * SB + tx + j * cols_per];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
          for (int j = 0; j < 4; ++j) acc[4 * i + j] += a[i] * b[j];
      }
      __syncthreads();
    }
    write_tile(
        acc, [&](int i) { return m0 + ty + (i / 4) * rows_per; }, [&](int i) { return n0 + tx + (i % 4) * cols_per; }, M, N,
        alpha, beta, C, ldc);
  }

  // Tensor cores (scan_mma.cuh): warp w computes the 32 x 16 block (32 (w / (TN / 16)), 16 (w % (TN / 16)))
  // of the tile. Each slab is kept in the layout of its memory: k-major (rows of TM + 8 or TN + 8)
  // where memory walks m or n, k-contiguous (rows of kTileK + 4) where it walks k; both paddings
  // put a fragment's 32 reads (8 rows g x 4 columns t) on 32 different banks.
  template <int TM, bool ta, bool tb>
  __device__ __forceinline__ void mma_tile(int m0, int n0, int M, int N, int K, T alpha, const T* A, int lda, const T* B, int ldb,
                                           T beta, T* C, int ldc) {
    static_assert(std::is_same_v<T, float>, "tensor-core tiles take f32 inputs");
    constexpr int TN = 16 * kThreads / TM, SA = TM + 8, SB = TN + 8;
    T* As = smem;
    T* Bs = smem + mma_slab_size(TM);
    // A k-major when ta (memory walks m), B k-major when !tb (memory walks n)
    auto at_a = [&](int m, int k) -> T& { return ta ? As[k * SA + m] : As[m * kSK + k]; };
    auto at_b = [&](int k, int n) -> T& { return tb ? Bs[n * kSK + k] : Bs[k * SB + n]; };
    const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
    const int wm = warp / (TN / 16) * 32, wn = warp % (TN / 16) * 16;
    Slab<TM, TN, ta, tb> slab;
    float acc[2][2][4] = {};
    slab.fetch(m0, n0, 0, M, N, K, A, lda, B, ldb);
    for (int k0 = 0; k0 < K; k0 += kTileK) {
      slab.stash([&](int k, int m, T v) { at_a(m, k) = mma::staged<kPrecision>(v); },
                 [&](int k, int n, T v) { at_b(k, n) = mma::staged<kPrecision>(v); });
      __syncthreads();
      if (k0 + kTileK < K) slab.fetch(m0, n0, k0 + kTileK, M, N, K, A, lda, B, ldb);
      mma::warp_block<kPrecision, kTileK>(acc, wm, wn, at_a, at_b);
      __syncthreads();
    }
    // acc[mi][ni][i] is the output (16 mi + g + 8 (i / 2), 8 ni + 2 t + i % 2) of the warp's block
    const int g = lane / 4, t = lane % 4;
    float(&flat)[16] = reinterpret_cast<float(&)[16]>(acc);
    write_tile(
        flat, [&](int i) { return m0 + wm + 16 * (i / 8) + g + 8 * (i % 4 / 2); },
        [&](int i) { return n0 + wn + 8 * (i / 4 % 2) + 2 * t + i % 2; }, M, N, alpha, beta, C, ldc);
  }
};

// kRanks consecutive blocks (one cluster when kRanks > 1: clusters are contiguous runs of
// blockIdx.x) run the whole scan, forward or backward, of one sequence.
template <class T, int kThreads, int kRanks, MatmulPrecision kPrecision, bool kForward>
__global__ void __launch_bounds__(kThreads, 1)
    scan_kernel(ScanShape s, SequenceArgs<T> all, bool share_barriers, bool rotate_tiles) {
  extern __shared__ unsigned char raw[];
  using Exec = BlockExec<T, kThreads, kRanks, kPrecision>;
  Exec ex{reinterpret_cast<T*>(raw), int(blockIdx.x) % kRanks};
  ex.share_barriers = share_barriers;
  ex.rotate_tiles = rotate_tiles;
  const SequenceArgs<T> a = sequence_args(s, all, int(blockIdx.x) / kRanks);
  Sequence<T, Exec> sequence(s, a, ex);
  if constexpr (kForward)
    sequence.forward();
  else
    sequence.backward();
}

// Shared memory for the largest tile pair: f32, kTileK x (TM + 1 + TN + 1) with TM + TN <= 32 +
// threads / 2; tensor cores, A and B in the larger of their two layouts (mma_tile).
constexpr size_t smem_bytes(int threads) {
  const int fma = kTileK * (32 + threads / 2 + 2);
  int mma = 0;
  for (int tm = 32; tm <= 64; tm *= 2) {
    const int tn = 16 * threads / tm;
    const int ab = mma_slab_size(tm) + mma_slab_size(tn);
    mma = ab > mma ? ab : mma;
  }
  return sizeof(float) * size_t(fma > mma ? fma : mma);
}

// Threads per block. 256 measured faster than 512 (docs/performance.md, "What bounds the fused kernel"): 512 threads cap
// registers at 128 and the matrix loop spills, and the extra warps do not make up for it.
constexpr int kScanThreads = 256;

// Blocks per sequence for a launch of `sequences`: the setting, or (0) two when a cluster of two
// per sequence still fits in one wave (the kernel holds a whole SM: 255 registers x 256 threads).
int blocks_for(int64_t sequences) {
  struct Gpu {
    int sms = 0, major = 0;
  };
  static const Gpu gpu = [] {
    int device = 0;
    Gpu g;
    TTT_CUDA_CHECK(cudaGetDevice(&device));
    TTT_CUDA_CHECK(cudaDeviceGetAttribute(&g.sms, cudaDevAttrMultiProcessorCount, device));
    TTT_CUDA_CHECK(cudaDeviceGetAttribute(&g.major, cudaDevAttrComputeCapabilityMajor, device));
    return g;
  }();
  if (gpu.major < 9) {  // thread-block clusters need compute capability 9.0 (Hopper)
    TTT_CHECK(cuda_blocks_per_sequence() <= 1, "fused_scan", "a cluster of ", cuda_blocks_per_sequence(),
              " blocks per sequence needs a GPU of compute capability 9.0 or newer; this one is ", gpu.major, ".x");
    return 1;
  }
  if (cuda_blocks_per_sequence() != 0) return cuda_blocks_per_sequence();
  return 2 * sequences <= gpu.sms ? 2 : 1;
}

// A cluster of `ranks` blocks per sequence.
template <int ranks, MatmulPrecision P, bool kForward>
void launch_cluster(const ScanShape& s, const SequenceArgs<float>& all, size_t smem) {
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(static_cast<unsigned>(s.sequences * ranks));
  config.blockDim = dim3(kScanThreads);
  config.dynamicSmemBytes = smem;
  config.stream = cuda::current_stream();
  cudaLaunchAttribute cluster[1];
  cluster[0].id = cudaLaunchAttributeClusterDimension;
  cluster[0].val.clusterDim.x = static_cast<unsigned>(ranks);
  cluster[0].val.clusterDim.y = 1;
  cluster[0].val.clusterDim.z = 1;
  config.attrs = cluster;
  config.numAttrs = 1;
  TTT_CUDA_CHECK(cudaLaunchKernelEx(&config, scan_kernel<float, kScanThreads, ranks, P, kForward>, s, all, cuda_shared_barriers(),
                                    cuda_rotate_tiles()));
}

template <MatmulPrecision P, bool kForward>
void launch(const ScanShape& s, const SequenceArgs<float>& all) {
  const size_t smem = smem_bytes(kScanThreads);
  if (blocks_for(s.sequences) == 1) {
    scan_kernel<float, kScanThreads, 1, P, kForward>
        <<<s.sequences, kScanThreads, smem, cuda::current_stream()>>>(s, all, cuda_shared_barriers(), cuda_rotate_tiles());
    TTT_CUDA_CHECK_LAUNCH();
    return;
  }
  if (blocks_for(s.sequences) == 4)
    launch_cluster<4, P, kForward>(s, all, smem);
  else
    launch_cluster<2, P, kForward>(s, all, smem);
}

template <bool kForward>
void launch_at(const ScanShape& s, const SequenceArgs<float>& all, MatmulPrecision precision) {
  switch (precision) {
    case MatmulPrecision::f32:
      return launch<MatmulPrecision::f32, kForward>(s, all);
    case MatmulPrecision::tf32:
      return launch<MatmulPrecision::tf32, kForward>(s, all);
    case MatmulPrecision::bf16:
      return launch<MatmulPrecision::bf16, kForward>(s, all);
  }
}

}  // namespace

void forward_cuda(const ScanShape& s, const SequenceArgs<float>& all, MatmulPrecision precision) {
  launch_at<true>(s, all, precision);
}
void backward_cuda(const ScanShape& s, const SequenceArgs<float>& all, MatmulPrecision precision) {
  launch_at<false>(s, all, precision);
}

}  // namespace ttt::scan
