#include "ttt/model.h"

#include <algorithm>
#include <cmath>

#include "autograd/checkpoint.h"
#include "autograd/ops.h"
#include "core/compute.h"
#include "core/error.h"
#include "core/kernel_args.h"

namespace ttt {

int64_t ModelConfig::hidden() const {
  if (ffn_hidden > 0) return ffn_hidden;
  const double h = 2.0 / 3.0 * 4.125 * static_cast<double>(width);
  return std::max<int64_t>(64, static_cast<int64_t>(std::llround(h / 64.0)) * 64);
}

DepformerConfig ModelConfig::depformer_config() const {
  DepformerConfig d = depformer;
  d.model_width = width;
  d.text_vocab = text_vocab;
  d.audio_vocab = audio_vocab;
  d.norm_eps = norm_eps;
  return d;
}

bool ModelConfig::is_hybrid(int64_t layer) const {
  for (int64_t i : hybrid_layers)
    if ((i < 0 ? i + num_layers : i) == layer) return true;
  return false;
}

bool ModelConfig::checkpoints_ttt(int64_t layer) const {
  if (!is_hybrid(layer)) return false;
  if (checkpoint_ttt) return true;
  for (int64_t i : checkpoint_ttt_layers)
    if ((i < 0 ? i + num_layers : i) == layer) return true;
  return false;
}

std::vector<std::string> model_config_problems(const ModelConfig& c, const std::string& where) {
  std::vector<std::string> p;
  auto need = [&](bool ok, const std::string& what) {
    if (!ok) p.push_back(where + "." + what);
  };
  need(c.width > 0, "width: must be positive");
  need(c.num_layers > 0, "num_layers: must be positive");
  need(c.num_heads > 0 && c.width % c.num_heads == 0,
       "num_heads: width " + std::to_string(c.width) + " is not divisible by " + std::to_string(c.num_heads));
  need(c.num_heads <= 0 || (c.width / c.num_heads) % 2 == 0, "num_heads: RoPE needs an even head dim");
  need(c.text_vocab > 0, "text_vocab: must be positive");
  need(c.audio_streams >= 0, "audio_streams: must be >= 0");
  need(c.audio_streams == 0 || c.audio_vocab > 0, "audio_vocab: must be positive when audio_streams > 0");
  need(c.context >= 0, "context: must be >= 0");
  need(!(c.checkpoint_ttt && c.checkpoint_layers),
       "checkpoint_ttt: checkpoint_layers already runs every layer again, its TTT branch included; give one of them");
  need(!c.checkpoint_ttt || !c.hybrid_layers.empty(), "checkpoint_ttt: the model has no TTT branch (hybrid_layers is empty)");
  need(!(c.checkpoint_ttt && !c.checkpoint_ttt_layers.empty()),
       "checkpoint_ttt_layers: checkpoint_ttt already checkpoints every TTT branch; give one of them");
  need(!(c.checkpoint_layers && !c.checkpoint_ttt_layers.empty()),
       "checkpoint_ttt_layers: checkpoint_layers already runs every layer again, its TTT branch included; give one of them");
  for (int64_t i : c.checkpoint_ttt_layers) {
    const int64_t layer = i < 0 ? i + c.num_layers : i;
    need(layer >= 0 && layer < c.num_layers && c.is_hybrid(layer),
         "checkpoint_ttt_layers: layer " + std::to_string(i) + " has no TTT branch (not in hybrid_layers)");
  }
  need(c.stream_weights.empty() || static_cast<int64_t>(c.stream_weights.size()) == c.num_streams(),
       "stream_weights: needs one weight per stream (" + std::to_string(c.num_streams()) + ")");
  {
    double total = 0;
    bool negative = false;
    for (double w : c.stream_weights) total += w, negative = negative || !(w >= 0);
    need(!negative, "stream_weights: every weight must be >= 0 (the loss is their weighted mean)");
    need(c.stream_weights.empty() || negative || total > 0,
         "stream_weights: all weights are zero, so the loss would be 0/0; give at least one stream a positive weight");
  }
  if (c.audio_head == AudioHead::depformer) {
    const DepformerConfig& d = c.depformer;
    need(d.steps >= 1 && d.steps <= c.audio_streams,
         "depformer.steps: the depformer predicts the first steps audio streams, so it needs 1 <= steps <= audio_streams (" +
             std::to_string(c.audio_streams) + "), got " + std::to_string(d.steps));
    need(d.dim > 0 && d.num_heads > 0 && d.dim % d.num_heads == 0, "depformer.num_heads: dim " + std::to_string(d.dim) +
                                                                       " must be positive and divisible by num_heads " +
                                                                       std::to_string(d.num_heads));
    need(d.num_layers > 0, "depformer.num_layers: must be positive");
    need(d.ffn_hidden > 0, "depformer.ffn_hidden: must be positive");
    need(d.context > 0, "depformer.context: must be positive");
    need(d.schedule.empty() || static_cast<int64_t>(d.schedule.size()) == d.steps,
         "depformer.schedule: needs one weight set per step (" + std::to_string(d.steps) + "), got " +
             std::to_string(d.schedule.size()));
    for (int64_t v : d.schedule)
      need(v >= 0 && v < d.steps, "depformer.schedule: weight set " + std::to_string(v) + " is outside [0, steps)");
    need(c.stream_weights.empty(),
         "stream_weights: the depformer's loss is weighted by model.loss (text_weight, audio_weight, ...)");
    const MoshiLossConfig& l = c.moshi_loss;
    need(l.text_weight >= 0 && l.audio_weight >= 0 && l.text_weight + l.audio_weight > 0,
         "loss.text_weight: text_weight and audio_weight must be >= 0 and not both 0");
    need(l.first_codebook_weight >= 0 && l.text_padding_weight >= 0,
         "loss.first_codebook_weight: first_codebook_weight and text_padding_weight must be >= 0");
    for (int64_t id : l.text_padding_ids)
      need(id >= 0 && id < c.text_vocab, "loss.text_padding_ids: " + std::to_string(id) + " is outside the text vocab [0, " +
                                             std::to_string(c.text_vocab) + ")");
  }
  for (int64_t i : c.hybrid_layers)
    need(i >= -c.num_layers && i < c.num_layers,
         "hybrid_layers: index " + std::to_string(i) + " is outside the " + std::to_string(c.num_layers) + " layers");
  if (!c.hybrid_layers.empty() && c.causal) {
    need(c.ttt.minibatch_mode == MiniBatchMode::causal,
         "causal: a causal stack needs ttt.minibatch_mode: causal (full mode lets each token see the inner-loop "
         "gradients of up to b-1 future tokens); set causal: false for non-causal use");
    need(!c.bidirectional, "bidirectional: a causal stack cannot have a reversed-sequence TTT branch");
  }
  return p;
}

TransformerLayer::TransformerLayer(const ModelConfig& c, int64_t index, Generator& gen, Device device)
    : nn::Module(c.is_hybrid(index) ? "HybridLayer" : "TransformerLayer"), checkpoint_ttt_(c.checkpoints_ttt(index)) {
  const bool hybrid = c.is_hybrid(index);
  norm1 = register_module("norm1", std::make_shared<nn::RMSNorm>(c.width, c.norm_eps, device));
  self_attn = register_module("self_attn", std::make_shared<nn::MultiHeadAttention>(c.width, c.num_heads, c.context, c.rope_theta,
                                                                                    c.causal, gen, device));
  self_attn->recompute_weights = c.attention_recompute;
  if (hybrid) {
    if (c.ttt_input_norm) norm_ttt = register_module("norm_ttt", std::make_shared<nn::RMSNorm>(c.width, c.norm_eps, device));
    TTTConfig tc = c.ttt;
    tc.width = c.width;
    ttt = register_module("ttt", make_ttt(tc, gen, device));
    forward_ssm_gating =
        register_module("forward_ssm_gating", std::make_shared<SSMGating>(c.width, c.gate_init, c.gate_clamp, device));
    if (c.bidirectional)
      backward_ssm_gating =
          register_module("backward_ssm_gating", std::make_shared<SSMGating>(c.width, c.gate_init, c.gate_clamp, device));
  }
  norm2 = register_module("norm2", std::make_shared<nn::RMSNorm>(c.width, c.norm_eps, device));
  ffn = register_module("ffn", std::make_shared<nn::SwiGLU>(c.width, c.hidden(), gen, device));
}

Tensor TransformerLayer::forward(const Tensor& h_in, const SeqMetadata& meta) const {
  Scope scope(*this);
  Tensor h = add(h_in, self_attn->forward(norm1->forward(h_in)));
  if (ttt) {
    Tensor u = norm_ttt ? norm_ttt->forward(h) : h;
    if (checkpoint_ttt_)  // autograd/checkpoint.h: backward keeps u and runs the branch again
      h = add(h, checkpoint([this, meta](const std::vector<Tensor>& in) { return ttt_branch(in[0], meta); }, {u},
                            ttt_branch_parameters()));
    else
      h = add(h, ttt_branch(u, meta));
  }
  return add(h, ffn->forward(norm2->forward(h)));
}

std::vector<Tensor> TransformerLayer::ttt_branch_parameters() const {
  std::vector<Tensor> p = ttt->parameters();
  for (const auto& gate : {forward_ssm_gating, backward_ssm_gating})
    if (gate)
      for (const Tensor& t : gate->parameters()) p.push_back(t);
  return p;
}

Tensor TransformerLayer::ttt_branch(const Tensor& u, const SeqMetadata& meta) const {
  Tensor branch = forward_ssm_gating->forward(ttt->forward(u, meta));
  if (backward_ssm_gating)  // the same TTT weights over the reversed sequence (docs/spec/TTT_SPEC.md section 6)
    branch = add(branch, backward_ssm_gating->forward(flip(ttt->forward(flip(u, 1), meta), 1)));
  return branch;
}

Tensor TransformerLayer::step(Tensor h, LayerStream& stream, const Tensor& position) const {
  Scope scope(*this);
  // the residual sums of attention and feed-forward are made by their output products
  // (Linear::forward_add): h is moved into them once its norm has read it
  const Tensor normed = norm1->forward(h);
  h = self_attn->step_add(std::move(h), normed, stream.attention, position);
  if (ttt) {
    TTT_CHECK(!backward_ssm_gating, "step", "a reversed-sequence TTT branch cannot stream (it reads the future)");
    const Tensor u = norm_ttt ? norm_ttt->forward(h) : h;
    const Tensor y = ttt->step(u, stream.ttt, position);
    if (!stream.gate.defined()) stream.gate = forward_ssm_gating->gate(y);
    h = add(h, mul(stream.gate, y));
  }
  const Tensor normed2 = norm2->forward(h);
  return ffn->forward_add(std::move(h), normed2);
}

HybridLM::HybridLM(const ModelConfig& c, Generator& gen, Device device) : nn::Module("HybridLM"), config_(c) {
  auto problems = model_config_problems(c);
  if (!problems.empty()) {
    std::string msg;
    for (auto& p : problems) msg += "\n  " + p;
    fail("HybridLM", "invalid model config:" + msg);
  }
  emb = register_module("emb", std::make_shared<nn::ModuleList>());
  for (int64_t s = 0; s < c.num_streams(); ++s)
    emb->push_back(std::make_shared<nn::Embedding>(c.vocab(s) + 1, c.width, gen, device));
  layers = register_module("layers", std::make_shared<nn::ModuleList>());
  for (int64_t l = 0; l < c.num_layers; ++l) layers->push_back(std::make_shared<TransformerLayer>(c, l, gen, device));
  out_norm = register_module("out_norm", std::make_shared<nn::RMSNorm>(c.width, c.norm_eps, device));
  heads = register_module("heads", std::make_shared<nn::ModuleList>());
  const bool use_depformer = c.audio_head == AudioHead::depformer;
  for (int64_t s = 0; s < (use_depformer ? 1 : c.num_streams()); ++s)
    heads->push_back(std::make_shared<nn::Linear>(c.width, c.vocab(s), false, gen, device));
  if (use_depformer) depformer = register_module("depformer", std::make_shared<Depformer>(c.depformer_config(), gen, device));
}

std::vector<Tensor> HybridLM::forward(const Tensor& tokens) const {
  TTT_CHECK(!depformer, "HybridLM::forward", "the depformer's audio logits need the step's tokens: use logits(inputs, targets)");
  return logits(tokens, Tensor());
}

std::vector<Tensor> HybridLM::logits(const Tensor& inputs, const Tensor& targets) const {
  Scope scope(*this);
  const Tensor h = hidden(inputs);
  std::vector<Tensor> out;
  for (size_t s = 0; s < heads->size(); ++s) out.push_back(heads->at<nn::Linear>(s)->forward(h));
  if (depformer) {
    TTT_CHECK(targets.defined() && targets.shape() == inputs.shape(), "HybridLM::logits", "the depformer needs targets ",
              inputs.describe(), " (the step's own tokens), got ", targets.defined() ? targets.describe() : std::string("none"));
    for (Tensor& a : depformer->forward(h, targets)) out.push_back(std::move(a));  // teacher-forced
  }
  return out;
}

Tensor HybridLM::hidden(const Tensor& tokens) const {
  Scope scope(*this);
  Tensor h = embed(tokens);
  const SeqMetadata meta;  // built once per forward, passed down unchanged
  for (size_t l = 0; l < layers->size(); ++l) {
    const auto layer = layers->at<TransformerLayer>(l);
    if (config_.checkpoint_layers)  // autograd/checkpoint.h: the layer runs again in backward; its
      // parameters are leaves, so that second backward accumulates their gradients directly
      h = checkpoint([layer, meta](const std::vector<Tensor>& in) { return layer->forward(in[0], meta); }, {h},
                     layer->parameters());
    else
      h = layer->forward(h, meta);
  }
  return out_norm->forward(h);
}

Tensor HybridLM::embed(const Tensor& tokens) const {
  TTT_CHECK(tokens.dim() == 3 && tokens.size(2) == config_.num_streams(), "forward", "expected tokens [B, S, ",
            config_.num_streams(), "], got ", tokens.describe());
  const Tensor by_stream = permute(tokens, {2, 0, 1});  // [N, B, S]: a stream's ids are a view (one copy, none at B = S = 1)
  Tensor h;
  for (int64_t s = 0; s < config_.num_streams(); ++s) {
    Tensor ids = squeeze(slice(by_stream, 0, s, s + 1), 0);
    Tensor e = emb->at<nn::Embedding>(static_cast<size_t>(s))->forward(ids);
    h = h.defined() ? add(h, e) : e;
  }
  return h;
}

ModelStream HybridLM::start_stream(int64_t max_steps) const {
  TTT_CHECK(max_steps > 0, "start_stream", "a stream needs max_steps > 0, got ", max_steps);
  ModelStream s;
  s.layers.resize(layers->size());
  const int64_t slots = config_.context > 0 ? std::min(config_.context, max_steps) : max_steps;
  for (LayerStream& l : s.layers) l.attention.slots = slots;
  s.position = zeros({1}, DType::i64, out_norm->weight.device());
  s.max_steps = max_steps;
  return s;
}

Tensor HybridLM::hidden_step(const Tensor& tokens, ModelStream& stream) const {
  Scope scope(*this);
  TTT_CHECK(tokens.dim() == 3 && tokens.size(1) == 1, "hidden_step", "expected one step [B, 1, ", config_.num_streams(),
            "], got ", tokens.describe());
  TTT_CHECK(stream.layers.size() == layers->size(), "hidden_step", "the stream was not started by this model (start_stream)");
  TTT_CHECK(stream.steps < stream.max_steps, "hidden_step", "the stream was started for ", stream.max_steps,
            " steps and has taken them all");
  Tensor h = embed(tokens);
  for (size_t l = 0; l < layers->size(); ++l)
    h = layers->at<TransformerLayer>(l)->step(std::move(h), stream.layers[l], stream.position);
  copy_into(stream.position, compute::index_step(stream.position, 1));  // in place: a replayed graph reads it there
  ++stream.steps;
  return out_norm->forward(h);
}

std::vector<Tensor> HybridLM::logits_step(const Tensor& tokens, ModelStream& stream) const {
  const Tensor h = hidden_step(tokens, stream);
  std::vector<Tensor> out;
  for (size_t s = 0; s < heads->size(); ++s) out.push_back(heads->at<nn::Linear>(s)->forward(h));
  return out;
}

HybridLM::LossTargets HybridLM::loss_targets(const Tensor& targets) const {
  if (!depformer) return {};
  const int64_t B = targets.size(0), S = targets.size(1), N = targets.size(2), P = config_.predicted_streams();
  if (targets.device().is_meta())
    return {empty({B, S, P}, DType::i64, targets.device()), empty({B, S, P}, DType::f32, targets.device())};
  const std::vector<int64_t> host = to_device(targets, Device::cpu()).to_vector<int64_t>();
  const MoshiLossConfig& l = config_.moshi_loss;
  std::vector<double> target(static_cast<size_t>(B * S * P)), weight(target.size());
  for (int64_t row = 0; row < B * S; ++row)
    for (int64_t p = 0; p < P; ++p) {  // predicted stream p is stream p: the text, then the depformer's codebooks
      const int64_t token = host[static_cast<size_t>(row * N + p)];
      TTT_CHECK(token >= kNoToken && token <= config_.pad_id(p), "HybridLM::loss", "target ", token, " of stream ", p,
                " is outside [-1, ", config_.pad_id(p), "]");
      const bool predicted = token != kNoToken && token != config_.pad_id(p);
      double w = 1.0;
      if (p == 0 && std::find(l.text_padding_ids.begin(), l.text_padding_ids.end(), token) != l.text_padding_ids.end())
        w = l.text_padding_weight;
      if (p == 1) w = l.first_codebook_weight;
      target[static_cast<size_t>(row * P + p)] = predicted ? static_cast<double>(token) : -1.0;
      weight[static_cast<size_t>(row * P + p)] = predicted ? w : 0.0;
    }
  return {to_device(from_vector(target, {B, S, P}, DType::i64), targets.device()),
          to_device(from_vector(weight, {B, S, P}, DType::f32), targets.device())};
}

// moshi-finetune's weighting (MoshiLossConfig): per part, sum(w * ce) / sum(w) over the positions
// with a target (a part with no target at all adds 0).
HybridLM::Loss HybridLM::depformer_loss(const std::vector<Tensor>& logits, const LossTargets& t) const {
  const int64_t P = config_.predicted_streams();
  auto weighted_sum = [&](int64_t p) {
    const Tensor rows = cross_entropy_rows(reshape(logits[static_cast<size_t>(p)], {-1, config_.vocab(p)}),
                                           reshape(slice(t.targets, 2, p, p + 1), {-1}), kNoToken);
    const Tensor w = reshape(slice(t.weights, 2, p, p + 1), {-1});
    return sum(mul(rows, rows.dtype() == w.dtype() ? w : cast(w, rows.dtype())));
  };
  // sum(w ce) / sum(w), the weights' sum clamped (0 / 0 -> 0) and in the losses' dtype (f32 weights, f64 model)
  auto weighted_mean = [](const Tensor& total, const Tensor& weights) {
    const Tensor weight_sum = clamp(sum(weights), 1e-30, 1e30);
    return div(total, weight_sum.dtype() == total.dtype() ? weight_sum : cast(weight_sum, total.dtype()));
  };
  const Tensor text = weighted_mean(weighted_sum(0), slice(t.weights, 2, 0, 1));
  Tensor audio_sum;
  for (int64_t p = 1; p < P; ++p) audio_sum = audio_sum.defined() ? add(audio_sum, weighted_sum(p)) : weighted_sum(p);
  const Tensor audio = weighted_mean(audio_sum, slice(t.weights, 2, 1, P));
  const MoshiLossConfig& l = config_.moshi_loss;
  return {add(text * l.text_weight, audio * l.audio_weight), {text, audio}};
}

HybridLM::Loss HybridLM::loss(const Tensor& inputs, const Tensor& targets, const LossTargets& prepared) const {
  TTT_CHECK(targets.shape() == inputs.shape(), "HybridLM::loss", "targets ", targets.describe(), " and inputs ",
            inputs.describe(), " differ in shape");
  return loss_from_logits(logits(inputs, targets), targets, prepared);
}

HybridLM::Loss HybridLM::loss_from_logits(const std::vector<Tensor>& logits, const Tensor& targets,
                                          const LossTargets& prepared) const {
  if (depformer) return depformer_loss(logits, prepared.targets.defined() ? prepared : loss_targets(targets));
  Loss out;
  double weight_sum = 0;
  for (int64_t s = 0; s < config_.num_streams(); ++s) {
    const int64_t V = config_.vocab(s);
    Tensor t = reshape(squeeze(slice(targets, 2, s, s + 1), 2), {-1});
    Tensor ce = cross_entropy(reshape(logits[s], {-1, V}), t, config_.pad_id(s));
    out.per_stream.push_back(ce);
    const double w = config_.stream_weights.empty() ? 1.0 : config_.stream_weights[s];
    weight_sum += w;
    out.total = out.total.defined() ? add(out.total, ce * w) : ce * w;
  }
  out.total = out.total * (1.0 / weight_sum);
  return out;
}

}  // namespace ttt
