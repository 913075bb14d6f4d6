#include "ttt/inner_scan.h"

#include "autograd/checkpoint.h"
#include "autograd/ops.h"
#include "core/error.h"

namespace ttt {

namespace {

// [H, d] -> [1, H, 1, ..., d] so it broadcasts over z [B, H, ..., d].
Tensor per_head(const Tensor& p, int64_t rank) {
  Shape s(rank, 1);
  s[1] = p.size(0);
  s[rank - 1] = p.size(1);
  return reshape(p, s);
}

struct State {
  std::vector<Tensor> w, b;
};

// One mini-batch (all [B, H, b, .]): returns the outputs and updates the state in place.
Tensor minibatch_step(State& s, const Tensor& q, const Tensor& xk, const Tensor& target, const Tensor& eta, const Tensor& ln_w,
                      const Tensor& ln_b, const ScanOptions& opt) {
  const size_t layers = s.w.size();
  // Key path through the inner model at the mini-batch's starting weights (E12).
  std::vector<Tensor> x(layers), z(layers), g(layers);
  x[0] = xk;
  for (size_t l = 0; l < layers; ++l) {
    z[l] = add(matmul(x[l], s.w[l]), s.b[l]);
    if (l + 1 < layers) x[l + 1] = gelu(z[l]);
  }
  // Inner gradients: E10 at the output, then back through the layers by hand (E11).
  g[layers - 1] = ln_l2_grad(z[layers - 1], target, ln_w, ln_b, opt.ln_eps);
  for (size_t l = layers - 1; l-- > 0;) g[l] = mul(matmul(g[l + 1], s.w[l + 1], false, true), gelu_grad(z[l]));

  // The learning rates enter every product below negated: the minus signs of E13 and E15 ride on
  // the small [b, b] matrix, so that backward negates no [b, d] or [d, d] gradient.
  Tensor neg_eta = neg(eta);
  Tensor zbar;
  if (opt.form == ScanForm::dual) {
    // E13: Zbar = Xbar W - (eta o T(Xbar X^T)) G + b - T(eta) G = Xbar W + b - M G with
    // M = eta o (Xbar X^T + 1) (eta already carries T): one product for both eta terms.
    Tensor xbar = q;
    for (size_t l = 0; l < layers; ++l) {
      Tensor neg_m = mul(matmul(xbar, x[l], false, true) + 1.0, neg_eta);
      zbar = matmul_add(add(matmul(xbar, s.w[l]), s.b[l]), neg_m, g[l]);  // - M G added by the GEMM
      if (l + 1 < layers) xbar = gelu(zbar);
    }
  } else {
    // Primal form: token i runs through W_l - sum_j eta[i,j] X_l[j]^T G_l[j] and the matching bias.
    const int64_t b = q.size(2);
    std::vector<Tensor> rows;
    for (int64_t i = 0; i < b; ++i) {
      Tensor eta_i = slice(eta, 2, i, i + 1);  // [B, H, 1, b]
      Tensor h = slice(q, 2, i, i + 1);
      for (size_t l = 0; l < layers; ++l) {
        Tensor w_i = sub(s.w[l], matmul(x[l], mul(transpose(eta_i, 2, 3), g[l]), true, false));
        Tensor b_i = sub(s.b[l], matmul(eta_i, g[l]));
        h = add(matmul(h, w_i), b_i);
        if (l + 1 < layers) h = gelu(h);
      }
      rows.push_back(h);
    }
    zbar = cat(rows, 2);
  }
  Tensor out = add(q, head_layer_norm(zbar, ln_w, ln_b, opt.ln_eps));  // E14

  // E15: carry the step at the last token: W -= (eta_last o X)^T G, b -= eta_last G.
  const int64_t b = eta.size(-1);
  Tensor neg_eta_last = slice(neg_eta, 2, b - 1, b);   // [B, H, 1, b]
  Tensor neg_eta_col = transpose(neg_eta_last, 2, 3);  // [B, H, b, 1]
  for (size_t l = 0; l < layers; ++l) {
    s.w[l] = matmul_add(std::move(s.w[l]), x[l], mul(neg_eta_col, g[l]), true, false);
    s.b[l] = matmul_add(std::move(s.b[l]), neg_eta_last, g[l]);
  }
  return out;
}

// Mini-batches [first, first + count) of the inputs, from state s; returns outputs [B, H, count, b, d].
Tensor scan_range(State& s, const ScanInputs& in, int64_t first, int64_t count, const ScanOptions& opt) {
  // one unstack per input (a single tape node each), not one slice per mini-batch
  auto range = [&](const Tensor& t) {
    return unstack(first == 0 && count == t.size(2) ? t : slice(t, 2, first, first + count), 2);
  };
  std::vector<Tensor> q = range(in.xq), k = range(in.xk), target = range(in.target), eta = range(in.eta);
  std::vector<Tensor> outs;
  for (int64_t m = 0; m < count; ++m)
    outs.push_back(minibatch_step(s, q[m], k[m], target[m], eta[m], in.ln_weight, in.ln_bias, opt));
  return stack(outs, 2);
}

}  // namespace

Tensor head_layer_norm(const Tensor& z, const Tensor& ln_weight, const Tensor& ln_bias, double eps) {
  Tensor xhat = layer_norm(z, Tensor(), Tensor(), eps);
  return add(mul(xhat, per_head(ln_weight, z.dim())), per_head(ln_bias, z.dim()));
}

ScanOutputs composed_scan(const ScanInputs& in, const ScanOptions& opt) {
  TTT_CHECK(in.xq.dim() == 5 && in.eta.dim() == 5, "ttt_scan", "expected xq [B, H, n, b, d] and eta [B, H, n, b, b], got ",
            in.xq.describe(), " and ", in.eta.describe());
  TTT_CHECK(!in.weights.empty() && in.weights.size() == in.biases.size(), "ttt_scan",
            "inner model needs matching weights and biases");
  const int64_t n = in.xq.size(2);
  State s{in.weights, in.biases};
  const int64_t group = opt.checkpoint_group;
  if (group <= 0 || group >= n) {
    Tensor out = scan_range(s, in, 0, n, opt);
    return {out, s.w, s.b};
  }
  // Checkpointed: each group of k mini-batches is one recorded op whose inputs are the state at the
  // group's start and the group's slices; only those are kept for backward (docs/spec/TTT_SPEC.md section 6).
  const size_t layers = in.weights.size();
  std::vector<Tensor> outs;
  for (int64_t first = 0; first < n; first += group) {
    const int64_t count = std::min(group, n - first);
    std::vector<Tensor> args = {slice(in.xq, 2, first, first + count),
                                slice(in.xk, 2, first, first + count),
                                slice(in.target, 2, first, first + count),
                                slice(in.eta, 2, first, first + count),
                                in.ln_weight,
                                in.ln_bias};
    args.insert(args.end(), s.w.begin(), s.w.end());
    args.insert(args.end(), s.b.begin(), s.b.end());
    // Shapes of the packed results: outputs, then each weight and bias after the group.
    std::vector<Shape> shapes;
    Shape out_shape = in.xq.shape();
    out_shape[2] = count;
    shapes.push_back(out_shape);
    const int64_t batch = in.xq.size(0);
    for (auto* list : {&s.w, &s.b})
      for (const Tensor& t : *list) {
        Shape sh = t.shape();
        sh[0] = batch;  // a shared [1, H, ...] initial state becomes per-sequence after one step
        shapes.push_back(sh);
      }
    auto segment = [layers, count, opt](const std::vector<Tensor>& a) {
      ScanInputs sub_in{a[0], a[1], a[2], a[3], a[4], a[5], {}, {}};
      State st;
      st.w.assign(a.begin() + 6, a.begin() + 6 + static_cast<int64_t>(layers));
      st.b.assign(a.begin() + 6 + static_cast<int64_t>(layers), a.end());
      std::vector<Tensor> parts{scan_range(st, sub_in, 0, count, opt)};
      parts.insert(parts.end(), st.w.begin(), st.w.end());
      parts.insert(parts.end(), st.b.begin(), st.b.end());
      return pack(parts);
    };
    std::vector<Tensor> results = unpack(checkpoint(segment, args), shapes);
    outs.push_back(results[0]);
    for (size_t l = 0; l < layers; ++l) {
      s.w[l] = results[1 + l];
      s.b[l] = results[1 + layers + l];
    }
  }
  return {cat(outs, 2), s.w, s.b};
}

}  // namespace ttt
