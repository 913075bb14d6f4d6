// Small fixed-size argument structs passed by value to kernels (CPU loops and CUDA launches).
#pragma once
#include <cstdint>

#include "core/shape.h"

namespace ttt {

// The id that stands for no token in an embedding lookup: its row is zeros and takes no gradient
// (Moshi's zero_token_id: a step where a stream has nothing to say).
inline constexpr int64_t kNoToken = -1;

constexpr int kMaxDims = 8;

// out[i] = f(a[ia], b[ib]) where, for the multi-index i of the output, ia = sum_k i_k * stride_a[k]
// (stride 0 on a broadcast dim). Adjacent dims are merged where possible to keep loops short.
struct BroadcastArgs {
  int rank = 0;
  int64_t numel = 0;
  int64_t shape[kMaxDims] = {};
  int64_t stride_a[kMaxDims] = {};
  int64_t stride_b[kMaxDims] = {};
  bool same_shape = false;  // fast path: a, b and out all have the output's shape
  bool accumulate = false;  // out += op(a, b) instead of out = op(a, b) (compute::binary_accumulate)
};
BroadcastArgs make_broadcast_args(const Shape& out, const Shape& a, const Shape& b, const char* op);

// out[i] = in[sum_k i_k * in_stride[k]]: permute (strides reordered) and expand (stride 0).
struct GatherArgs {
  int rank = 0;
  int64_t numel = 0;
  int64_t out_shape[kMaxDims] = {};
  int64_t in_stride[kMaxDims] = {};
};

// A tensor viewed as [outer, dim, inner] around one dim.
struct DimView {
  int64_t outer = 1, dim = 1, inner = 1;
};

// Row-wise softmax over the last dim of scale * x. For attention scores [..., S, S] a mask can be
// computed on the fly from the query index i (the row within its matrix) and the key index j:
// blocked entries get probability exactly 0, which is what adding -1e9 before the softmax gives
// (exp underflows to 0), without materialising a mask or a scaled copy of the scores.
struct SoftmaxArgs {
  bool log = false;  // log-softmax (no scale or mask)
  double scale = 1.0;
  int64_t queries = 0;  // rows per score matrix; 0: no mask
  bool causal = false;  // block j > i
  int64_t context = 0;  // > 0: also block i - j >= context, and j - i >= context when not causal
  // > 0 with causal: row i touches only the columns of the blocks of `block` rows up to its own,
  // j < min(S, (i / block + 1) block); the rest of the row is neither read nor written (the
  // attention op's block-causal scratch, autograd/ops_attention.cpp).
  int64_t block = 0;
};

// The softmax of attention scores [..., S, S]: scaled, with query i blocked from keys j > i when
// causal and from keys at least `context` steps away (when context > 0).
inline SoftmaxArgs attention_softmax_args(int64_t S, double scale, bool causal, int64_t context) {
  SoftmaxArgs a;
  a.scale = scale;
  a.queries = causal || context > 0 ? S : 0;  // 0: nothing to block
  a.causal = causal;
  a.context = context;
  return a;
}

// True when query i may not attend to key j under `a` (see SoftmaxArgs).
#if defined(__CUDACC__)
__host__ __device__
#endif
    inline bool
    attention_blocked(const SoftmaxArgs& a, int64_t i, int64_t j) {
  if (a.queries == 0) return false;
  if (a.causal && j > i) return true;
  return a.context > 0 && (i - j >= a.context || (!a.causal && j - i >= a.context));
}

// How many of row i's d columns a softmax kernel touches (SoftmaxArgs::block).
#if defined(__CUDACC__)
__host__ __device__
#endif
    inline int64_t
    softmax_columns(const SoftmaxArgs& a, int64_t i, int64_t d) {
  if (a.queries == 0 || !a.causal || a.block <= 0) return d;
  const int64_t end = (i / a.block + 1) * a.block;
  return end < d ? end : d;
}
DimView dim_view(const Shape& s, int64_t dim);

// Copies `count` slabs: dst[o, dst_start + j, :] = src[o, src_start + j, :], j < count.
struct BlockCopyArgs {
  int64_t outer = 1, inner = 1, count = 0;
  int64_t src_dim = 0, src_start = 0;
  int64_t dst_dim = 0, dst_start = 0;
};

// How f32 matrix products round their inputs (compute::set_matmul_precision): f32 (not at all),
// tf32 (to a 10-bit mantissa) or bf16 (to a 7-bit mantissa); the sums are f32 in every case.
// f64 products are always exact.
enum class MatmulPrecision { f32, tf32, bf16 };

// Batched GEMM in row-major terms: C[b] = op(A[b]) op(B[b]), op = transpose when flagged.
// A batch stride of 0 reuses one matrix for every batch entry.
struct MatmulArgs {
  int64_t batch = 1, m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;
  // CUDA: f32 cores, TF32 or bf16 tensor cores; the CPU rounds the operands the same way first
  MatmulPrecision precision = MatmulPrecision::f32;
  // Sub-matrices of larger row-major buffers (compute::matmul_region): the row length of the
  // stored A, B and C (0: packed, the matrix's own width) and the element where each starts.
  int64_t lda = 0, ldb = 0, ldc = 0;
  int64_t offset_a = 0, offset_b = 0, offset_c = 0;
  // C += op(A) op(B) (GEMM's beta = 1) instead of C = op(A) op(B): how backward adds a product
  // to a gradient it has already summed, without a separate add (compute::matmul_accumulate).
  bool accumulate = false;
};

// Row lengths of the stored (untransposed) row-major A, B and C of a product.
inline int64_t matmul_lda(const MatmulArgs& g) { return g.lda ? g.lda : g.trans_a ? g.m : g.k; }
inline int64_t matmul_ldb(const MatmulArgs& g) { return g.ldb ? g.ldb : g.trans_b ? g.k : g.n; }
inline int64_t matmul_ldc(const MatmulArgs& g) { return g.ldc ? g.ldc : g.n; }

// How compute::sample_tokens chooses one token per row of logits (ttt/sampling.h has the user's
// options): greedy takes the first largest; otherwise a draw from softmax(logits / temperature)
// over the top_k largest (0: every token) cut to the top_p share of the mass (1: no cut). Row b's
// draw is philox::uniform53(counter + b, seed), counter read from the device (core/sampling_math.h).
// compute::ttt_stream_step's limits: inner layers, and the width of any of them (one block holds a
// token's vectors in shared memory).
inline constexpr size_t kMaxTttStepLayers = 8;
inline constexpr int64_t kMaxTttStepWidth = 2048;
inline constexpr int64_t kMaxSampleCandidates = 2048;  // the most one CUDA block orders in shared memory
struct SampleArgs {
  bool greedy = false;
  double temperature = 1.0;
  int64_t top_k = 0;
  double top_p = 1.0;
  uint64_t seed = 0;
};

}  // namespace ttt

namespace ttt {

// One tensor of a multi-tensor AdamW step (f32 device or host pointers).
struct AdamWTensor {
  float* param = nullptr;
  const float* grad = nullptr;
  float* exp_avg = nullptr;
  float* exp_avg_sq = nullptr;
  int64_t numel = 0;
  float lr = 0, weight_decay = 0;
};

// PyTorch's AdamW formula (see nn/optim/adamw.h); bias corrections are 1 - beta^step.
struct AdamWHyper {
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  float bias_correction1 = 1, bias_correction2 = 1;
};

}  // namespace ttt
