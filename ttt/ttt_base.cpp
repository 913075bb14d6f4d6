#include "ttt/ttt_base.h"

#include <cmath>

#include "autograd/ops.h"
#include "core/compute.h"
#include "core/error.h"
#include "nn/init.h"
#include "nn/precision.h"
#include "ttt/fused_scan.h"

namespace ttt {

TTTBase::TTTBase(std::string kind, const TTTConfig& config, Generator& gen, Device device)
    : nn::Module(std::move(kind)), config_(config) {
  validate(config_, this->kind());
  const int64_t C = config_.width, H = config_.heads, d = config_.head_dim();
  wq = register_module("wq", std::make_shared<nn::Linear>(C, C, true, gen, device));
  wk = register_module("wk", std::make_shared<nn::Linear>(C, C, true, gen, device));
  wv = register_module("wv", std::make_shared<nn::Linear>(C, C, true, gen, device));
  wo = register_module("wo", std::make_shared<nn::Linear>(C, C, true, gen, device));
  const int64_t gate_in = config_.lr_gate == LrGate::per_head ? d : C;
  learnable_ttt_lr_weight =
      register_parameter("learnable_ttt_lr_weight", nn::init::normal({H, 1, gate_in}, 0, 0.02, gen, device));
  learnable_ttt_lr_bias = register_parameter("learnable_ttt_lr_bias", nn::init::zeros({H, 1}, device));
  ttt_norm_weight = register_parameter("ttt_norm_weight", nn::init::ones({H, d}, device));
  ttt_norm_bias = register_parameter("ttt_norm_bias", nn::init::zeros({H, d}, device));
  post_norm = register_module("post_norm", std::make_shared<nn::LayerNorm>(C, 1e-6, true, device));
  if (config_.minibatch_mode == MiniBatchMode::causal)
    learnable_token_idx_bias = register_parameter("learnable_token_idx_bias", nn::init::zeros({config_.mini_batch_size}, device));
}

TTTBase::InnerInit TTTBase::initial_inner(Generator& gen, Device device) const {
  const std::vector<int64_t> dims = config_.inner_dims();
  InnerInit init;
  for (size_t l = 0; l + 1 < dims.size(); ++l) {
    init.weights.push_back(nn::init::normal({config_.heads, dims[l], dims[l + 1]}, 0, 0.02, gen, device));
    init.biases.push_back(nn::init::zeros({config_.heads, 1, dims[l + 1]}, device));
  }
  return init;
}

void TTTBase::set_inner_params(std::vector<Tensor> weights, std::vector<Tensor> biases, std::vector<std::string> weight_names,
                               std::vector<std::string> bias_names) {
  inner_weights_ = std::move(weights);
  inner_biases_ = std::move(biases);
  weight_names_ = std::move(weight_names);
  bias_names_ = std::move(bias_names);
}

ScanOutputs TTTBase::default_scan(const ScanInputs& inputs) const {
  ScanOptions opt;
  opt.form = config_.scan_form;
  opt.checkpoint_group = config_.scan_checkpoint_group;
  opt.precision = config_.scan_precision;
  return config_.use_kernel ? fused_scan(inputs, opt) : composed_scan(inputs, opt);
}

// E9's target XV - XK. With E2a (XV <- XK + LN_h(XV - XK): mean and unbiased std over d, eps 1e-8
// added to the std) that is LN_h(XV - XK) itself, computed directly (one fused op each way).
Tensor TTTBase::reconstruction_target(const Tensor& xk, const Tensor& xv) const {
  Tensor z = sub(xv, xk);
  return config_.target_norm ? unbiased_head_norm(z, ttt_norm_weight, ttt_norm_bias, 1e-8) : z;
}

// E4-E7: eta[B, H, n, b, b] with eta[i, j] = w_pos[i] * ttt_base_lr * sigmoid(<u_h[t_j], w_lr[h]> + b_lr[h]) / d,
// masked to j <= i in causal mode; padding tokens (t >= valid) take no step.
Tensor TTTBase::step_sizes(const Tensor& x, int64_t valid, int64_t n) const {
  const int64_t B = x.size(0), Lp = x.size(1), C = config_.width, H = config_.heads, d = config_.head_dim();
  const int64_t b = config_.mini_batch_size;
  Tensor logits;  // [B, Lp, H]
  if (config_.lr_gate == LrGate::per_head) {
    Tensor u = reshape(x, {B, Lp, H, d});
    logits = sum(mul(u, reshape(learnable_ttt_lr_weight, {H, d})), {-1});
  } else {
    logits = matmul(x, reshape(learnable_ttt_lr_weight, {H, C}), false, true);
  }
  logits = add(logits, reshape(learnable_ttt_lr_bias, {H}));
  Tensor eta_tok = permute(sigmoid(logits), {0, 2, 1}) * (config_.ttt_base_lr / static_cast<double>(d));  // [B, H, Lp]
  if (valid < Lp) {
    std::vector<double> mask(Lp, 0.0);
    for (int64_t t = 0; t < valid; ++t) mask[t] = 1.0;
    eta_tok = mul(eta_tok, cached_constant(mask, {Lp}, x.dtype(), x.device()));
  }
  eta_tok = reshape(eta_tok, {B, H, n, 1, b});  // indexed by j, the token whose gradient is applied
  Tensor w_pos;                                 // [b, 1], indexed by i, the token that is updated
  if (config_.minibatch_mode == MiniBatchMode::causal) {
    std::vector<double> inv(b);
    for (int64_t i = 0; i < b; ++i) inv[i] = 1.0 / static_cast<double>(i + 1);
    Tensor base = cached_constant(inv, {b}, x.dtype(), x.device());
    w_pos = maximum(add(base, learnable_token_idx_bias), zeros({}, x.dtype(), x.device()));  // E6
  } else {
    w_pos = full({b}, 1.0 / static_cast<double>(b), x.dtype(), x.device());
  }
  Tensor eta = mul(reshape(w_pos, {b, 1}), eta_tok);  // E7
  return config_.minibatch_mode == MiniBatchMode::causal ? tril(eta) : eta;
}

Tensor TTTBase::forward(const Tensor& x_in, const SeqMetadata& meta) {
  Scope scope(*this);
  // The layer computes in f32 whatever the activations are (nn/precision.h): the inner loop's
  // gradient steps are where bf16's 8 bits would hurt. bf16 comes in and goes out.
  nn::ActivationScope f32_inside(DType::f32);
  const Tensor x = x_in.dtype() == DType::bf16 ? cast(x_in, DType::f32) : x_in;
  const TTTConfig& c = config_;
  TTT_CHECK(x.dim() == 3 && x.size(2) == c.width, "forward", "expected x [B, L, ", c.width, "], got ", x.describe());
  const int64_t B = x.size(0), L = x.size(1), C = c.width, H = c.heads, d = c.head_dim(), b = c.mini_batch_size;
  const int64_t valid = meta.valid_length < 0 ? L : std::min(meta.valid_length, L);
  const int64_t n = (L + b - 1) / b, Lp = n * b;
  TTT_CHECK(L > 0, "forward", "empty sequence ", x.describe());
  // Pad to a multiple of the mini-batch size; padded tokens get eta = 0 (step_sizes).
  Tensor xp = L == Lp ? x : cat({x, zeros({B, Lp - L, C}, x.dtype(), x.device())}, 1);

  // E1: projections, split into heads [B, H, Lp, d].
  auto heads = [&](const Tensor& t) { return permute(reshape(t, {B, Lp, H, d}), {0, 2, 1, 3}); };
  Tensor xq = heads(wq->forward(xp)), xk = heads(wk->forward(xp)), xv = heads(wv->forward(xp));
  if (c.qk_l2_norm) {  // E1a
    xq = l2_normalize(xq);
    xk = l2_normalize(xk);
  }
  if (c.rope_positions != RopePositions::none) {  // E2
    std::vector<double> pos(Lp);
    for (int64_t t = 0; t < Lp; ++t)
      pos[t] = static_cast<double>(c.rope_positions == RopePositions::global ? meta.position_offset + t
                                                                             : (meta.position_offset + t) % b);
    Tensor positions = cached_constant(pos, {Lp}, DType::i64, x.device());
    xq = rope(xq, positions, c.rope_theta);
    xk = rope(xk, positions, c.rope_theta);
  }

  // E3: mini-batches [B, H, n, b, d], the step sizes, the initial inner state.
  auto minibatches = [&](const Tensor& t) { return reshape(t, {B, H, n, b, d}); };
  ScanInputs in;
  in.xq = minibatches(xq);
  in.xk = minibatches(xk);
  in.target = minibatches(reconstruction_target(xk, xv));  // E2a, E9
  in.eta = step_sizes(xp, valid, n);
  in.ln_weight = ttt_norm_weight;
  in.ln_bias = ttt_norm_bias;
  if (meta.continue_from_state) {
    TTT_CHECK(!carried_w_.empty(), "forward", "continue_from_state is set but no inner state was given (set_inner_state)");
    TTT_CHECK(carried_w_[0].size(0) == B, "forward", "carried inner state is for batch ", carried_w_[0].size(0),
              ", the input has batch ", B);
    in.weights = carried_w_;
    in.biases = carried_b_;
  } else {
    for (const Tensor& w : inner_weights_) in.weights.push_back(unsqueeze(w, 0));
    for (const Tensor& bias : inner_biases_) in.biases.push_back(unsqueeze(bias, 0));
  }

  ScanOutputs out = ttt_scan(in);  // sections 3-4, implemented by the variant

  state_w_.clear();
  state_b_.clear();
  for (const Tensor& w : out.weights) state_w_.push_back(w.detach());
  for (const Tensor& bias : out.biases) state_b_.push_back(bias.detach());

  // E16: merge heads, drop the padding, post_norm, output projection.
  Tensor y = reshape(permute(reshape(out.out, {B, H, Lp, d}), {0, 2, 1, 3}), {B, Lp, C});
  if (Lp != L) y = slice(y, 1, 0, L);
  return cast(wo->forward(post_norm->forward(y)), x_in.dtype());
}

Tensor TTTBase::step(const Tensor& x_in, TttStream& st, const Tensor& position) const {
  Scope scope(*this);
  const TTTConfig& c = config_;
  TTT_CHECK(c.minibatch_mode == MiniBatchMode::causal, "step",
            "only minibatch_mode: causal streams (in full mode a token's output depends on the rest of its mini-batch)");
  TTT_CHECK(x_in.dim() == 3 && x_in.size(1) == 1 && x_in.size(2) == c.width, "step", "expected one step [B, 1, ", c.width,
            "], got ", x_in.describe());
  nn::ActivationScope f32_inside(DType::f32);  // as forward: the inner loop in f32
  const Tensor x = x_in.dtype() == DType::bf16 ? cast(x_in, DType::f32) : x_in;
  const int64_t B = x.size(0), H = c.heads, d = c.head_dim(), b = c.mini_batch_size;
  const size_t layers = inner_weights_.size();
  if (st.w0.empty()) {
    std::vector<double> inv(b);
    for (int64_t j = 0; j < b; ++j) inv[j] = 1.0 / static_cast<double>(j + 1);
    st.positional = maximum(add(learnable_token_idx_bias.detach(), cached_constant(inv, {b}, x.dtype(), x.device())),
                            zeros({1}, x.dtype(), x.device()));  // E6: w_pos of each place
    for (size_t l = 0; l < layers; ++l) {
      const Tensor& w = inner_weights_[l];
      const Tensor& bias = inner_biases_[l];
      st.w0.push_back(expand(unsqueeze(w.detach(), 0), {B, w.size(0), w.size(1), w.size(2)}));
      st.b0.push_back(expand(unsqueeze(bias.detach(), 0), {B, bias.size(0), bias.size(1), bias.size(2)}));
      st.xs.push_back(zeros({B, H, b, w.size(1)}, DType::f32, x.device()));
      st.ds.push_back(zeros({B, H, b, w.size(2)}, DType::f32, x.device()));
    }
  }
  TTT_CHECK(st.w0[0].size(0) == B, "step", "the stream holds ", st.w0[0].size(0), " sequences, the step ", B);

  // E1-E2, E2a for this token: [B, H, 1, d]
  auto heads = [&](const Tensor& t) { return permute(reshape(t, {B, 1, H, d}), {0, 2, 1, 3}); };
  Tensor xq = heads(wq->forward(x)), xk = heads(wk->forward(x)), xv = heads(wv->forward(x));
  if (c.qk_l2_norm) xq = l2_normalize(xq), xk = l2_normalize(xk);
  if (c.rope_positions != RopePositions::none) {
    // global: the stream's position; minibatch: its place in the mini-batch, on the device
    const Tensor p = c.rope_positions == RopePositions::global ? position : compute::index_step(position, 0, b);
    xq = rope(xq, p, c.rope_theta);
    xk = rope(xk, p, c.rope_theta);
  }
  const Tensor target = reconstruction_target(xk, xv);
  // E4-E6 for this token: eta_tok [B, H, 1, 1] (its own step size) and w_pos[i] (its place in the mini-batch)
  Tensor logits;  // [B, 1, H]
  if (c.lr_gate == LrGate::per_head)
    logits = sum(mul(reshape(x, {B, 1, H, d}), reshape(learnable_ttt_lr_weight, {H, d})), {-1});
  else
    logits = matmul(x, reshape(learnable_ttt_lr_weight, {H, c.width}), false, true);
  const Tensor eta_tok =
      reshape(sigmoid(add(logits, reshape(learnable_ttt_lr_bias, {H}))) * (c.ttt_base_lr / static_cast<double>(d)), {B, H, 1, 1});

  // the rest in one kernel per layer (compute::ttt_stream_step; docs/inference.md has the equations):
  // the key path at the mini-batch's start weights W0 and its gradients (E10-E11); the token's key-path
  // inputs X_l[i] and steps eta G_l[i] written as row i of the mini-batch's rows; the query through
  // W(t) = W0 - w_pos S in the dual form, S = sum_{j <= i} X[j]^T eta G[j] never made (E12-E14); at the
  // mini-batch's last token the commit W0 -= w_pos[b-1] S (E15)
  const int64_t n = B * H;
  TttStepArgs args;
  args.xq = view_shape(xq, {n, d});
  args.xk = view_shape(xk, {n, d});
  args.target = view_shape(target, {n, d});
  args.eta = view_shape(eta_tok, {n});
  args.positional = st.positional;
  args.position = position;
  args.ln_weight = ttt_norm_weight.detach();
  args.ln_bias = ttt_norm_bias.detach();
  for (size_t l = 0; l < layers; ++l) {
    const int64_t p = st.w0[l].size(-2), q = st.w0[l].size(-1);
    args.w0.push_back(view_shape(st.w0[l], {n, p, q}));
    args.b0.push_back(view_shape(st.b0[l], {n, q}));
    args.xs.push_back(view_shape(st.xs[l], {n, b, p}));
    args.ds.push_back(view_shape(st.ds[l], {n, b, q}));
  }
  args.out = empty({n, d}, x.dtype(), x.device());
  compute::ttt_stream_step(args);
  const Tensor out = view_shape(args.out, {B, H, 1, d});
  // E16
  const Tensor y = reshape(permute(out, {0, 2, 1, 3}), {B, 1, c.width});
  return cast(wo->forward(post_norm->forward(y)), x_in.dtype());
}

std::vector<nn::NamedTensor> TTTBase::inner_state() const {
  std::vector<nn::NamedTensor> out;
  for (size_t l = 0; l < state_w_.size(); ++l) {
    out.emplace_back(weight_names_[l], state_w_[l]);
    out.emplace_back(bias_names_[l], state_b_[l]);
  }
  return out;
}

void TTTBase::set_inner_state(const std::vector<nn::NamedTensor>& state) {
  std::vector<Tensor> w(weight_names_.size()), bias(bias_names_.size());
  for (const auto& [name, t] : state) {
    bool found = false;
    for (size_t l = 0; l < weight_names_.size(); ++l) {
      if (name == weight_names_[l]) w[l] = t.detach(), found = true;
      if (name == bias_names_[l]) bias[l] = t.detach(), found = true;
    }
    TTT_CHECK(found, "set_inner_state", "unknown inner state '", name, "' for ", kind());
  }
  for (size_t l = 0; l < w.size(); ++l) {
    TTT_CHECK(w[l].defined() && bias[l].defined(), "set_inner_state", "missing ", weight_names_[l], " or ", bias_names_[l]);
    const Tensor& init_w = inner_weights_[l];
    TTT_CHECK(
        w[l].dim() == 4 && w[l].size(1) == init_w.size(0) && w[l].size(2) == init_w.size(1) && w[l].size(3) == init_w.size(2),
        "set_inner_state", weight_names_[l], " must be [B, ", init_w.size(0), ", ", init_w.size(1), ", ", init_w.size(2),
        "], got ", w[l].describe());
  }
  carried_w_ = w;
  carried_b_ = bias;
}

}  // namespace ttt
