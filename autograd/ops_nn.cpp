// Neural-network ops with fused kernels: embedding, softmax, norms, cross-entropy, RoPE.
// Each backward calls the matching fused backward kernel in core/compute.h.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "core/compute.h"
#include "core/error.h"

namespace ttt {

using V = std::vector<Tensor>;

// Backward: rows of the table receive the sum of the gradients of every position that read them.
Tensor embedding(const Tensor& weight, const Tensor& ids) {
  Tensor y = compute::embedding(weight, ids);
  return record(y, "embedding", {weight, ids}, [ids = ids.detach(), vocab = weight.size(0)](const Tensor& g) {
    return V{compute::embedding_backward(g, ids, vocab), Tensor()};
  });
}

static Tensor softmax_impl(const Tensor& x, int64_t dim, bool log) {
  dim = normalize_dim(dim, x.dim(), log ? "log_softmax" : "softmax");
  if (dim != x.dim() - 1)  // kernels work on the last dim: move `dim` there and back
    return transpose(softmax_impl(transpose(x, dim, -1), -1, log), dim, -1);
  SoftmaxArgs args;
  args.log = log;
  Tensor y = compute::softmax(x, args);
  return record(y, log ? "log_softmax" : "softmax", {x},
                [y = y.detach(), args](const Tensor& g) { return V{compute::softmax_backward(g, y, args)}; });
}

// y = silu(a) * b for x = [a, b] split in halves of the last dim, in one kernel (no copies of the
// halves); the backward fills both halves of dx in one kernel too (math::swiglu_grads).
Tensor swiglu(const Tensor& x) {
  return record(compute::swiglu(x), "swiglu", {x},
                [x = x.detach()](const Tensor& g) { return V{compute::swiglu_backward(g, x)}; });
}

// softmax(scale * scores + mask) with the mask computed in the kernel (SoftmaxArgs):
// d/dscores = scale * y (g - sum(g y)); blocked entries have y = 0, so they get no gradient.
Tensor attention_softmax(const Tensor& scores, double scale, bool causal, int64_t context) {
  const SoftmaxArgs args = attention_softmax_args(scores.dim() >= 2 ? scores.size(-1) : 0, scale, causal, context);
  Tensor y = compute::softmax(scores, args);
  return record(y, "attention_softmax", {scores},
                [y = y.detach(), args](const Tensor& g) { return V{compute::softmax_backward(g, y, args)}; });
}
Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true); }

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  auto r = compute::layer_norm(x, weight, bias, eps);
  return record(r.y, "layer_norm", {x, weight, bias},
                [x = x.detach(), w = weight.defined() ? weight.detach() : Tensor(), mean = r.mean, rstd = r.rstd,
                 nw = weight.requires_grad(), nb = bias.requires_grad()](const Tensor& g) {
                  auto d = compute::layer_norm_backward(g, x, w, mean, rstd, nw, nb);
                  return V{d.x, d.weight, d.bias};
                });
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  auto r = compute::rms_norm(x, weight, eps);
  return record(r.y, "rms_norm", {x, weight},
                [x = x.detach(), w = weight.defined() ? weight.detach() : Tensor(), rstd = r.rstd,
                 nw = weight.requires_grad()](const Tensor& g) {
                  auto d = compute::rms_norm_backward(g, x, w, rstd, nw);
                  return V{d.x, d.weight};
                });
}

// d loss / d logits = (softmax(logits) - onehot(target)) / count on counted rows.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
  auto r = compute::cross_entropy(logits, targets, ignore_index);
  return record(
      r.loss, "cross_entropy", {logits, targets},
      [logits = logits.detach(), targets = targets.detach(), lse = r.lse, count = r.count, ignore_index](const Tensor& g) {
        return V{compute::cross_entropy_backward(logits, targets, ignore_index, lse, count, g), Tensor()};
      });
}

// d row_loss[n] / d logits[n] = softmax(logits[n]) - onehot(target[n]) on counted rows.
Tensor cross_entropy_rows(const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
  auto r = compute::cross_entropy_rows(logits, targets, ignore_index);
  return record(r.loss, "cross_entropy_rows", {logits, targets},
                [logits = logits.detach(), targets = targets.detach(), lse = r.lse, ignore_index](const Tensor& g) {
                  return V{compute::cross_entropy_rows_backward(logits, targets, ignore_index, lse, g), Tensor()};
                });
}

// A rotation's transpose is its inverse, so backward rotates the gradient back.
Tensor rope(const Tensor& x, const Tensor& positions, double theta) {
  Tensor y = compute::rope(x, positions, theta, false);
  return record(y, "rope", {x, positions}, [pos = positions.detach(), theta](const Tensor& g) {
    return V{compute::rope(g, pos, theta, true), Tensor()};
  });
}

// y = x / max(||x||, eps) along `dim` (docs/spec/TTT_SPEC.md E1a) in one kernel each way; backward projects
// the gradient off y: dx = (g - y <g, y>) / ||x|| (g / eps where the norm was clamped).
Tensor l2_normalize(const Tensor& x, int64_t dim, double eps) {
  dim = normalize_dim(dim, x.dim(), "l2_normalize");
  if (dim != x.dim() - 1)  // the kernels work on the last dim: move `dim` there and back
    return transpose(l2_normalize(transpose(x, dim, -1), -1, eps), dim, -1);
  auto r = compute::l2_normalize(x, eps);
  return record(r.y, "l2_normalize", {x}, [y = r.y.detach(), den = r.den, eps](const Tensor& g) {
    return V{compute::l2_normalize_backward(g, y, den, eps)};
  });
}

// E10's inner gradient. Backward: core/cpu/norms.cpp has the formulas.
Tensor ln_l2_grad(const Tensor& z, const Tensor& target, const Tensor& weight, const Tensor& bias, double eps) {
  auto r = compute::ln_l2_grad(z, target, weight, bias, eps);
  return record(r.g, "ln_l2_grad", {z, target, weight, bias},
                [z = z.detach(), t = target.detach(), w = weight.detach(), b = bias.detach(),
                 f = compute::LnL2GradOut{r.g.detach(), r.mean, r.rstd}, nt = target.requires_grad(), nw = weight.requires_grad(),
                 nb = bias.requires_grad()](const Tensor& g) {
                  auto d = compute::ln_l2_grad_backward(g, z, t, w, b, f, nt, nw, nb);
                  return V{d.z, d.target, d.weight, d.bias};
                });
}

// docs/spec/TTT_SPEC.md E2a's LayerNorm: per head h of x [..., H, L, d], (x - mean) / (std + eps) w[h] + b[h]
// with the unbiased std over d. Backward: core/cpu/norms.cpp has the formula.
Tensor unbiased_head_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  auto r = compute::unbiased_head_norm(x, weight, bias, eps);
  return record(r.y, "unbiased_head_norm", {x, weight, bias},
                [x = x.detach(), w = weight.detach(), mean = r.mean, std_dev = r.std_dev, eps, nw = weight.requires_grad(),
                 nb = bias.requires_grad()](const Tensor& g) {
                  auto d = compute::unbiased_head_norm_backward(g, x, w, mean, std_dev, eps, nw, nb);
                  return V{d.x, d.weight, d.bias};
                });
}

}  // namespace ttt
