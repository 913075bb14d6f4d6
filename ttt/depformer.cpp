#include "ttt/depformer.h"

#include <algorithm>
#include <cmath>

#include "autograd/ops.h"
#include "core/compute.h"
#include "core/error.h"

namespace ttt {

int64_t DepformerConfig::weight_sets() const {
  return schedule.empty() ? steps : *std::max_element(schedule.begin(), schedule.end()) + 1;
}

int64_t DepformerConfig::weight_set(int64_t k) const { return schedule.empty() ? k : schedule[static_cast<size_t>(k)]; }

DepformerLayer::DepformerLayer(const DepformerConfig& c, Generator& gen, Device device) : Module("DepformerLayer"), c_(c) {
  norm1 = register_module("norm1", std::make_shared<nn::RMSNorm>(c.dim, c.norm_eps, device));
  norm2 = register_module("norm2", std::make_shared<nn::RMSNorm>(c.dim, c.norm_eps, device));
  self_attn = register_module("self_attn", std::make_shared<nn::Module>("DepformerAttention"));
  in_projs = self_attn->register_module("in_projs", std::make_shared<nn::ModuleList>());
  out_projs = self_attn->register_module("out_projs", std::make_shared<nn::ModuleList>());
  gating = register_module("gating", std::make_shared<nn::ModuleList>());
  for (int64_t s = 0; s < c.weight_sets(); ++s) {
    in_projs->push_back(std::make_shared<nn::Linear>(c.dim, 3 * c.dim, false, gen, device));
    out_projs->push_back(std::make_shared<nn::Linear>(c.dim, c.dim, false, gen, device));
    gating->push_back(std::make_shared<nn::SwiGLU>(c.dim, c.ffn_hidden, gen, device));
  }
}

template <class M>
Tensor DepformerLayer::per_step(const nn::ModuleList& list, const Tensor& x) const {
  std::vector<Tensor> out;
  for (int64_t k = 0; k < x.size(1); ++k)  // all steps, or the first ones while generating
    out.push_back(list.at<M>(static_cast<size_t>(c_.weight_set(k)))->forward(squeeze(slice(x, 1, k, k + 1), 1)));
  return stack(out, 1);
}

Tensor DepformerLayer::forward(const Tensor& x) const {
  Scope scope(*this);
  const int64_t N = x.size(0), K = x.size(1), H = c_.num_heads, d = c_.dim / H;
  // attention over the steps, causal, no positional embedding: [N, K, 3D] -> q, k, v [N, H, K, d]
  const Tensor qkv = per_step<nn::Linear>(*in_projs, norm1->forward(x));
  const std::vector<Tensor> q_k_v = unstack(permute(reshape(qkv, {N, K, 3, H, d}), {2, 0, 3, 1, 4}), 0);
  Tensor a = attention(q_k_v[0], q_k_v[1], q_k_v[2], 1.0 / std::sqrt(static_cast<double>(d)), /*causal=*/true, c_.context);
  a = reshape(permute(a, {0, 2, 1, 3}), {N, K, c_.dim});
  Tensor h = add(x, per_step<nn::Linear>(*out_projs, a));
  return add(h, per_step<nn::SwiGLU>(*gating, norm2->forward(h)));
}

Tensor DepformerLayer::step(Tensor x, int64_t k, nn::KVCache& cache) const {
  Scope scope(*this);
  const int64_t N = x.size(0), H = c_.num_heads, d = c_.dim / H;
  const size_t set = static_cast<size_t>(c_.weight_set(k));
  const Tensor qkv = in_projs->at<nn::Linear>(set)->forward(norm1->forward(x));    // [N, 1, 3D]
  const Tensor by_kind = permute(reshape(qkv, {N, 1, 3, H, d}), {2, 0, 3, 1, 4});  // [3, N, H, 1, d]
  // a ring of `context` places: codebook k writes place k mod context and sees k - context + 1 .. k
  // (its position is a constant: the loop over codebooks is the same at every time step)
  if (!cache.kv.defined()) cache.allocate({N, H, c_.context, d}, qkv.dtype(), x.device(), false);  // only written places are read
  const Tensor position = cached_constant({static_cast<double>(k)}, {1}, DType::i64, x.device());
  compute::cache_write(cache.kv, slice(by_kind, 0, 1, 3), position);  // the key and the value at once
  const Tensor q = squeeze(slice(by_kind, 0, 0, 1), 0);
  const Tensor a = reshape(
      permute(compute::attention_decode(q, cache.k, cache.v, position, 1.0 / std::sqrt(static_cast<double>(d))), {0, 2, 1, 3}),
      {N, 1, c_.dim});
  // both residual sums made by the products (Linear::forward_add); norm1 has read x already
  Tensor h = out_projs->at<nn::Linear>(set)->forward_add(std::move(x), a);
  const Tensor normed = norm2->forward(h);
  return gating->at<nn::SwiGLU>(set)->forward_add(std::move(h), normed);
}

Depformer::Depformer(const DepformerConfig& c, Generator& gen, Device device) : Module("Depformer"), c_(c) {
  TTT_CHECK(c.dim % c.num_heads == 0, "Depformer", "dim ", c.dim, " is not divisible by num_heads ", c.num_heads);
  TTT_CHECK(c.schedule.empty() || static_cast<int64_t>(c.schedule.size()) == c.steps, "Depformer", "the weight schedule needs ",
            c.steps, " entries (one per codebook), got ", c.schedule.size());
  in = register_module("in", std::make_shared<nn::ModuleList>());
  for (int64_t s = 0; s < (c.multi_linear ? c.weight_sets() : 1); ++s)
    in->push_back(std::make_shared<nn::Linear>(c.model_width, c.dim, false, gen, device));
  text_emb = register_module("text_emb", std::make_shared<nn::Embedding>(c.text_vocab + 1, c.dim, gen, device));
  emb = register_module("emb", std::make_shared<nn::ModuleList>());
  for (int64_t k = 0; k + 1 < c.steps; ++k)
    emb->push_back(std::make_shared<nn::Embedding>(c.audio_vocab + 1, c.dim, gen, device));
  layers = register_module("layers", std::make_shared<nn::ModuleList>());
  for (int64_t l = 0; l < c.num_layers; ++l) layers->push_back(std::make_shared<DepformerLayer>(c, gen, device));
  linears = register_module("linears", std::make_shared<nn::ModuleList>());
  for (int64_t k = 0; k < c.steps; ++k)
    linears->push_back(std::make_shared<nn::Linear>(c.dim, c.audio_vocab, false, gen, device));
}

std::vector<Tensor> Depformer::forward(const Tensor& temporal, const Tensor& tokens) const {
  Scope scope(*this);
  const int64_t B = temporal.size(0), T = temporal.size(1), K = c_.steps;
  TTT_CHECK(tokens.dim() == 3 && tokens.size(0) == B && tokens.size(1) == T && tokens.size(2) >= K, "Depformer",
            "expected tokens [", B, ", ", T, ", >= ", K, "] (the text token, then the audio tokens), got ", tokens.describe());
  std::vector<Tensor> inputs;
  for (int64_t k = 0; k < K; ++k) {
    const Tensor projected = in->at<nn::Linear>(static_cast<size_t>(c_.multi_linear ? c_.weight_set(k) : 0))->forward(temporal);
    const Tensor previous = squeeze(slice(tokens, 2, k, k + 1), 2);  // k = 0: the text token
    const Tensor embedded =
        k == 0 ? text_emb->forward(previous) : emb->at<nn::Embedding>(static_cast<size_t>(k - 1))->forward(previous);
    inputs.push_back(add(projected, embedded));
  }
  Tensor x = reshape(stack(inputs, 2), {B * T, K, c_.dim});  // every time step is a sequence of K
  for (size_t l = 0; l < layers->size(); ++l) x = layers->at<DepformerLayer>(l)->forward(x);
  std::vector<Tensor> logits;
  for (int64_t k = 0; k < K; ++k)
    logits.push_back(reshape(linears->at<nn::Linear>(static_cast<size_t>(k))->forward(squeeze(slice(x, 1, k, k + 1), 1)),
                             {B, T, c_.audio_vocab}));
  return logits;
}

std::vector<Tensor> Depformer::generate(const Tensor& temporal, const Tensor& text,
                                        const std::function<Tensor(int64_t, const Tensor&)>& pick) const {
  Scope scope(*this);
  const int64_t B = temporal.size(0), K = c_.steps;
  TTT_CHECK(temporal.dim() == 3 && temporal.size(1) == 1 && text.dim() == 2 && text.size(0) == B, "Depformer::generate",
            "expected temporal [B, 1, C] and text [B, 1], got ", temporal.describe(), " and ", text.describe());
  std::vector<nn::KVCache> caches(layers->size());       // per layer: the earlier codebooks' keys and values
  Tensor previous = to_device(text, temporal.device());  // codebook k sees the text token, then codebook k - 1's
  std::vector<Tensor> chosen;
  for (int64_t k = 0; k < K; ++k) {
    Tensor embedded =
        k == 0 ? text_emb->forward(previous) : emb->at<nn::Embedding>(static_cast<size_t>(k - 1))->forward(previous);
    // [B, 1, D]: the projection added into the embedding's buffer; codebook k through the layers, attending to 0..k
    Tensor x = in->at<nn::Linear>(static_cast<size_t>(c_.multi_linear ? c_.weight_set(k) : 0))
                   ->forward_add(std::move(embedded), temporal);
    for (size_t l = 0; l < layers->size(); ++l) x = layers->at<DepformerLayer>(l)->step(std::move(x), k, caches[l]);
    const Tensor ids = pick(k, linears->at<nn::Linear>(static_cast<size_t>(k))->forward(squeeze(x, 1)));
    TTT_CHECK(ids.dim() == 1 && ids.size(0) == B && ids.dtype() == DType::i64, "Depformer::generate", "pick must return ids [", B,
              "] (i64), got ", ids.describe());
    previous = reshape(to_device(ids, temporal.device()), {B, 1});
    chosen.push_back(ids);
  }
  return chosen;
}

}  // namespace ttt
