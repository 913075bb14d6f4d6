// The differentiable op library. Every function computes its result through core/compute.h and,
// when an input requires grad, records one tape node whose backward sits next to its forward in
// autograd/ops_*.cpp. Shapes broadcast NumPy-style where noted; dims may be negative.
#pragma once
#include <cstdint>
#include <vector>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "core/tensor.h"

namespace ttt {

// ---- elementwise (ops_elementwise.cpp); binary ops broadcast ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);  // a^b, a > 0 where b is not an integer
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor affine(const Tensor& x, double scale, double shift);  // scale * x + shift
Tensor pow(const Tensor& x, double exponent);
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor silu(const Tensor& x);
Tensor gelu(const Tensor& x);       // tanh approximation
Tensor gelu_grad(const Tensor& x);  // d gelu / dx, itself differentiable (docs/spec/TTT_SPEC.md E11)
Tensor abs(const Tensor& x);
Tensor square(const Tensor& x);
Tensor clamp(const Tensor& x, double lo, double hi);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& x) { return neg(x); }
inline Tensor operator+(const Tensor& x, double s) { return affine(x, 1.0, s); }
inline Tensor operator+(double s, const Tensor& x) { return affine(x, 1.0, s); }
inline Tensor operator-(const Tensor& x, double s) { return affine(x, 1.0, -s); }
inline Tensor operator-(double s, const Tensor& x) { return affine(x, -1.0, s); }
inline Tensor operator*(const Tensor& x, double s) { return affine(x, s, 0.0); }
inline Tensor operator*(double s, const Tensor& x) { return affine(x, s, 0.0); }
inline Tensor operator/(const Tensor& x, double s) { return affine(x, 1.0 / s, 0.0); }

// ---- reductions (ops_reduce.cpp); empty dims = all dims ----
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
// Gradient is shared equally among tied maxima.
Tensor max(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor var(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false, bool unbiased = true);

// ---- matmul (ops_matmul.cpp): [..., m, k] x [..., k, n], batch dims broadcast ----
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);
// c + op(a) op(b) in one GEMM (beta = 1), c broadcast to the product's shape: written into c's own
// buffer when nothing else holds it (pass a fresh result, e.g. matmul_add(add(x, y), a, b)), else
// into a copy. Equal to add(c, matmul(a, b, trans_a, trans_b)) without the add's kernel.
Tensor matmul_add(Tensor c, const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);

// ---- shape and layout (ops_shape.cpp) ----
Tensor reshape(const Tensor& x, Shape shape);  // one extent may be -1; shares storage
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x, int64_t dim);  // dim must have extent 1
Tensor permute(const Tensor& x, const std::vector<int64_t>& perm);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
Tensor expand(const Tensor& x, const Shape& shape);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end);  // [start, end)
Tensor cat(const std::vector<Tensor>& xs, int64_t dim);
Tensor stack(const std::vector<Tensor>& xs, int64_t dim);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim);
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim);  // equal parts
std::vector<Tensor> unstack(const Tensor& x, int64_t dim);                // the inverse of stack: one tensor per index
Tensor flip(const Tensor& x, int64_t dim);
Tensor tril(const Tensor& x, int64_t k = 0);  // keep col - row <= k over the last two dims
Tensor triu(const Tensor& x, int64_t k = 0);  // keep col - row >= k
Tensor clone(const Tensor& x);                // a differentiable copy
// x converted to dtype (floating), differentiable: the gradient comes back in x's dtype. Returns x
// itself when it already has that dtype. What the bf16 mode's casts (nn/precision.h) use.
Tensor cast(const Tensor& x, DType dtype);

// ---- neural-network ops (ops_nn.cpp) ----
Tensor embedding(const Tensor& weight, const Tensor& ids);  // weight [V, D], ids int -> [..., D]; id -1: no token, zeros
Tensor softmax(const Tensor& x, int64_t dim = -1);
Tensor log_softmax(const Tensor& x, int64_t dim = -1);
// The SwiGLU gate: x [..., 2h] -> silu(x[..., :h]) * x[..., h:] [..., h].
Tensor swiglu(const Tensor& x);
// Attention weights from scores [..., S, S]: softmax over keys of scale * scores where query i may
// see key j unless causal and j > i, or context > 0 and |i - j| >= context (only i - j when
// causal). One kernel: no mask tensor, no scaled copy of the scores.
Tensor attention_softmax(const Tensor& scores, double scale, bool causal, int64_t context);
// softmax(scale q k^T, masked as attention_softmax) v for q, k, v [..., S, d], as one op
// (ops_attention.cpp): with the causal mask, the products skip the blocks of `block` rows that lie
// above the block diagonal. Equal to matmul(attention_softmax(matmul(q, k, false, true), ...), v).
// recompute: keep each row's log-sum-exp instead of the [..., S, S] weights for backward, which
// rebuilds them (one more q k^T product; much less memory). bf16 with d = 64 on CUDA runs the flash
// kernels instead, recompute or not (no [..., S, S] buffer at all; compute::flash_attention).
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale, bool causal, int64_t context,
                 int64_t block = 256, bool recompute = false);
// Over the last dim; weight/bias [D] or undefined. Biased variance, like PyTorch.
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-5);
Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps = 1e-6);
// logits [N, V], targets [N] int; mean over rows whose target != ignore_index (0 if none).
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index = -100);
// The loss of each row [N] (0 where the target is ignore_index): for weighted losses, e.g.
// sum(w * cross_entropy_rows(...)) / sum(w) (Moshi's fine-tuning weights).
Tensor cross_entropy_rows(const Tensor& logits, const Tensor& targets, int64_t ignore_index = -100);
// Rotary embedding of interleaved pairs over x [..., L, d]; positions [L] int.
Tensor rope(const Tensor& x, const Tensor& positions, double theta = 10000.0);
// x / max(||x||_2, eps) along dim (like torch.nn.functional.normalize).
Tensor l2_normalize(const Tensor& x, int64_t dim = -1, double eps = 1e-12);
// LayerNorm of each row of x [..., H, L, d] with the unbiased std, eps added to the std, and a
// weight and bias [H, d] per head (docs/spec/TTT_SPEC.md E2a).
Tensor unbiased_head_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-8);
// E10 (docs/spec/TTT_SPEC.md): the gradient with respect to z of 0.5 ||LN(z) w[h] + b[h] - target||^2,
// row by row of z [..., H, L, d] (LN over d with the biased variance, eps inside the root), weight
// and bias [H, d]: one kernel forward and one backward, not a dozen ops each way.
Tensor ln_l2_grad(const Tensor& z, const Tensor& target, const Tensor& weight, const Tensor& bias, double eps);

}  // namespace ttt
