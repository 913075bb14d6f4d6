// Tensor computations without autograd: each function checks its arguments (throwing errors
// that name the op, shapes, dtypes and devices), allocates the result on the inputs' device and
// runs the CPU or CUDA kernel. On the meta device only the result shape is computed.
// autograd/ builds the differentiable ops on top of these; backward formulas use them too.
#pragma once
#include <cstdint>
#include <vector>

#include "core/kernel_args.h"
#include "core/op_kinds.h"
#include "core/tensor.h"
#include "core/ttt_step_args.h"

namespace ttt::compute {

Tensor unary(UnaryOp op, const Tensor& x, double a = 0, double b = 0);
Tensor binary(BinaryOp op, const Tensor& x, const Tensor& y);
// out += op(x, y), out of the broadcast result's shape, f32 or f64: a gradient term added to a sum
// in the kernel that computes it (autograd/engine.cpp).
void binary_accumulate(BinaryOp op, const Tensor& x, const Tensor& y, const Tensor& out);
// Reduces over `dims` (negative allowed; empty = all dims).
Tensor reduce(ReduceOp op, const Tensor& x, std::vector<int64_t> dims, bool keepdim);
// Sums a broadcast result back to `shape` (the inverse of broadcasting, for gradients).
Tensor sum_to(const Tensor& x, const Shape& shape);
// [..., m, k] x [..., k, n] -> [..., m, n]; transposes as flags; batch dims broadcast.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);
// c += op(A) op(B), c of exactly the product's shape and A's dtype: GEMM's beta = 1, no separate add
// (backward adds a product to a gradient it has already summed; autograd/engine.cpp).
void matmul_accumulate(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, const Tensor& c);
// Writes C = op(A) op(B) into a sub-matrix of c, A and B sub-matrices of a and b: the sizes,
// transposes, batch strides, leading dims and offsets come from `args` (core/kernel_args.h),
// and every element they reach must lie inside its tensor. For products on blocks of larger
// matrices (causal attention's lower block triangle). k = 0 is refused.
void matmul_region(const Tensor& a, const Tensor& b, const Tensor& c, const MatmulArgs& args);

// Precision of f32 matrix products, for the whole process: f32 (the default: products exact to
// f32 rounding), tf32 (inputs rounded to a 10-bit mantissa, f32 accumulation: TF32 tensor cores
// on CUDA, several times faster, like PyTorch's allow_tf32; each input rounded by up to 2^-11
// relative) or bf16 (inputs rounded to bfloat16's 7-bit mantissa, up to 2^-8 relative, f32
// accumulation: bf16 tensor cores). The CPU rounds the operands the same way, so a CPU run shows a mode's accuracy
// (not bit for bit the GPU's: the sums run in another order). f64 products always compute in full
// precision; the fused TTT scan follows its own setting (ttt.scan_precision), not this one.
using ttt::MatmulPrecision;
void set_matmul_precision(MatmulPrecision precision);
MatmulPrecision matmul_precision();
Tensor permute(const Tensor& x, const std::vector<int64_t>& perm);
Tensor expand(const Tensor& x, const Shape& shape);  // broadcast copy to `shape`
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end);
// Zeros of `full_shape` with g placed at [start, start + g.size(dim)) along dim.
Tensor slice_backward(const Tensor& g, const Shape& full_shape, int64_t dim, int64_t start);
Tensor cat(const std::vector<Tensor>& xs, int64_t dim);
Tensor flip(const Tensor& x, int64_t dim);
Tensor tri(const Tensor& x, int64_t k, bool lower);
// ids outside [0, vocab) other than kNoToken are refused by a host check of the ids (a copy to
// the host, which waits for the GPU), except during a CUDA graph capture or an EmbeddingIdsChecked
// scope; the kernel gives such ids NaN rows, never a read outside the table.
Tensor embedding(const Tensor& weight, const Tensor& ids);
// Within its scope (on this thread) embedding skips its host check: for callers whose ids were
// checked once (a prompt) or made in range (sampled tokens), as streaming generation's.
class EmbeddingIdsChecked {
 public:
  EmbeddingIdsChecked();
  ~EmbeddingIdsChecked();
  EmbeddingIdsChecked(const EmbeddingIdsChecked&) = delete;
  EmbeddingIdsChecked& operator=(const EmbeddingIdsChecked&) = delete;

 private:
  bool previous_;
};
Tensor embedding_backward(const Tensor& grad, const Tensor& ids, int64_t vocab);
// y [..., h] = silu(x[..., :h]) * x[..., h:] for x [..., 2h], and its gradient with respect to x.
Tensor swiglu(const Tensor& x);
Tensor swiglu_backward(const Tensor& grad, const Tensor& x);
Tensor softmax(const Tensor& x, const SoftmaxArgs& args);  // over the last dim (core/kernel_args.h)
Tensor softmax_backward(const Tensor& grad, const Tensor& y, const SoftmaxArgs& args);
// A masked softmax and each row's log-sum-exp (the scaled scores' over the open entries), from
// which softmax_from_lse rebuilds y later without a pass for the max and the sum.
struct SoftmaxOut {
  Tensor y, lse;
};
SoftmaxOut softmax_with_lse(const Tensor& x, const SoftmaxArgs& args);

// Flash attention (core/cuda/flash_attention.cu): softmax(mask.scale q k^T, masked) v for q, k, v
// [..., S, d] without the [S, S] matrices. Only where flash_attention_applies: CUDA, bf16 or f32 (its
// products rounded as matmul_precision says), d = 64 or 128, and not switched off
// (set_flash_attention(false): the tests compare the two).
bool flash_attention_applies(const Tensor& q);
void set_flash_attention(bool on);
// While one lives (this thread), meta tensors take the paths CUDA tensors would (the flash
// kernels): a memory estimate on the meta device for a run on a GPU (train/memory_estimate.h).
class MetaAsCuda {
 public:
  explicit MetaAsCuda(bool on);
  ~MetaAsCuda();
  MetaAsCuda(const MetaAsCuda&) = delete;
  MetaAsCuda& operator=(const MetaAsCuda&) = delete;

 private:
  bool before_;
};
struct FlashOut {
  Tensor out, lse;
};  // lse [..., S] f32: what backward rebuilds the weights from
FlashOut flash_attention(const Tensor& q, const Tensor& k, const Tensor& v, const SoftmaxArgs& mask);
struct FlashGrads {
  Tensor q, k, v;
};
FlashGrads flash_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                                    const Tensor& grad, const SoftmaxArgs& mask);
Tensor softmax_from_lse(const Tensor& x, const Tensor& lse, const SoftmaxArgs& args);

struct LayerNormOut {
  Tensor y, mean, rstd;
};
LayerNormOut layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);
struct LayerNormGrads {
  Tensor x, weight, bias;
};
LayerNormGrads layer_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                   const Tensor& rstd, bool want_weight, bool want_bias);
struct RmsNormOut {
  Tensor y, rstd;
};
RmsNormOut rms_norm(const Tensor& x, const Tensor& weight, double eps);
struct RmsNormGrads {
  Tensor x, weight;
};
RmsNormGrads rms_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, const Tensor& rstd, bool want_weight);
// The TTT layer's row norms (docs/spec/TTT_SPEC.md E1a, E2a; core/backend_interface.inc says what they keep).
struct L2NormalizeOut {
  Tensor y, den;
};
L2NormalizeOut l2_normalize(const Tensor& x, double eps);
Tensor l2_normalize_backward(const Tensor& grad, const Tensor& y, const Tensor& den, double eps);
struct HeadNormOut {
  Tensor y, mean, std_dev;
};
HeadNormOut unbiased_head_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);
struct HeadNormGrads {
  Tensor x, weight, bias;
};
HeadNormGrads unbiased_head_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                          const Tensor& std_dev, double eps, bool want_weight, bool want_bias);
// E10 (docs/spec/TTT_SPEC.md): g = d/dz 0.5 ||LN(z) w[h] + b[h] - target||^2 per row of z [..., H, L, d],
// weight/bias [H, d]; backward gives dz and, where wanted, dtarget and the weight's and bias's [H, d].
struct LnL2GradOut {
  Tensor g, mean, rstd;
};
LnL2GradOut ln_l2_grad(const Tensor& z, const Tensor& target, const Tensor& weight, const Tensor& bias, double eps);
struct LnL2GradGrads {
  Tensor z, target, weight, bias;
};
LnL2GradGrads ln_l2_grad_backward(const Tensor& grad, const Tensor& z, const Tensor& target, const Tensor& weight,
                                  const Tensor& bias, const LnL2GradOut& forward, bool want_target, bool want_weight,
                                  bool want_bias);

// loss: mean over rows whose target is not ignore_index (0 when every row is ignored);
// count: the number of such rows, as a one-element tensor (kept on the device).
struct CrossEntropyOut {
  Tensor loss, lse, count;
};
CrossEntropyOut cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index);
Tensor cross_entropy_backward(const Tensor& logits, const Tensor& targets, int64_t ignore_index, const Tensor& lse,
                              const Tensor& count, const Tensor& grad_loss);
// Per row: loss [N] (0 where the target is ignore_index), valid [N] (0 there, else 1) and lse [N],
// for weighted losses (cross_entropy averages them); the backward scales each row's
// softmax - onehot by grad_rows[n].
struct CrossEntropyRows {
  Tensor loss, valid, lse;
};
CrossEntropyRows cross_entropy_rows(const Tensor& logits, const Tensor& targets, int64_t ignore_index);
Tensor cross_entropy_rows_backward(const Tensor& logits, const Tensor& targets, int64_t ignore_index, const Tensor& lse,
                                   const Tensor& grad_rows);

Tensor rope(const Tensor& x, const Tensor& positions, double theta, bool inverse);

// Streaming on the device (what a CUDA graph of a generation step needs: no host value changes
// between steps). index_step: i64 (x + add), then modulo `modulus` when > 0. cache_write: rows
// [..., 1, d] into slot (position[0] mod slots) of cache [..., slots, d], in place (no autograd).
// attention_decode: one query per row, q [..., 1, d], against k, v [..., slots, d]: softmax(scale q
// k^T) v over the first min(position[0] + 1, slots) slots; [..., 1, d].
Tensor index_step(const Tensor& x, int64_t add, int64_t modulus = 0);
void cache_write(const Tensor& cache, const Tensor& rows, const Tensor& position);
Tensor attention_decode(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& position, double scale);
// A streaming TTT step's inner part, fused (TttStepArgs in core/backend.h; no autograd): writes
// a.out and the token's rows a.xs, a.ds in place, and commits a.w0, a.b0 at a mini-batch's last token.
void ttt_stream_step(const TttStepArgs& a);

// One token per row of logits [B, V] -> ids [B] (i64, on the logits' device), as SampleArgs says
// (core/kernel_args.h). counter (i64 [1], same device) gives row b the draw counter + b and
// advances by B on the device. A CUDA candidate set above kMaxSampleCandidates (top_k 0 or above
// it) is sampled on the CPU: a copy each way, refused during a graph capture. Given `out` (i64 [B]
// on the logits' device, e.g. a row of a step's token buffer), writes the ids there and returns it.
Tensor sample_tokens(const Tensor& logits, const Tensor& counter, const SampleArgs& args, Tensor out = Tensor());
// Whether sample_tokens on CUDA draws from `vocab` logits on the GPU (else on the host: not in a graph).
bool samples_on_gpu(const SampleArgs& args, int64_t vocab);

}  // namespace ttt::compute
