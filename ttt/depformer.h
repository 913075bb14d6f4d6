// Moshi's depth transformer, the "depformer" (docs/spec/MOSHI_SPEC.md): for every time step, a
// small causal transformer over the step's audio codebooks predicts them one after another. Its
// input at codebook k is a projection of the temporal transformer's output for that step plus the
// embedding of the previous token of the step (the text token for k = 0, codebook k - 1's token
// otherwise; teacher-forced in training); its output at k gives codebook k's logits. With weights
// per step, each codebook k has its own attention projections and gating (or those of schedule[k]).
// No positional embedding: the step index is in the weights. Names follow Moshi's
// (depformer.layers.{i}.self_attn.in_projs.{k}, ...), so train/moshi_names.h maps them one to one.
#pragma once
#include <functional>
#include <vector>

#include "nn/attention.h"
#include "nn/containers.h"
#include "nn/layers.h"

namespace ttt {

struct DepformerConfig {
  int64_t model_width = 64;  // the temporal transformer's C
  int64_t dim = 32;          // D
  int64_t num_layers = 2;
  int64_t num_heads = 2;
  int64_t ffn_hidden = 44;        // the gating's hidden width (Moshi: 2/3 of depformer_dim_feedforward)
  int64_t steps = 8;              // dep_q: the codebooks predicted per time step
  int64_t context = 8;            // attention window over the steps
  std::vector<int64_t> schedule;  // codebook k uses weight set schedule[k]; empty: its own (k)
  bool multi_linear = true;       // an input projection per weight set (else one for all)
  int64_t text_vocab = 32;        // embedding tables have vocab + 1 rows (the initial token)
  int64_t audio_vocab = 16;
  double norm_eps = 1e-8;

  int64_t weight_sets() const;          // 1 + max(schedule), or steps
  int64_t weight_set(int64_t k) const;  // the set codebook k uses
};

class DepformerLayer : public nn::Module {
 public:
  DepformerLayer(const DepformerConfig& c, Generator& gen, Device device);
  // x [N, steps, D] -> [N, steps, D]
  Tensor forward(const Tensor& x) const;
  // Generation: codebook k alone, x [N, 1, D] -> [N, 1, D], attending to the earlier codebooks'
  // keys and values in `cache` (extended by this one); forward's numbers at step k.
  // The cache holds the time step's earlier codebooks (a ring of `context` places; its slots unused).
  // x is taken by value: moved in as the stream's only handle, its buffer takes the residual sums.
  Tensor step(Tensor x, int64_t k, nn::KVCache& cache) const;

  std::shared_ptr<nn::RMSNorm> norm1, norm2;
  std::shared_ptr<nn::Module> self_attn;                // holds in_projs and out_projs
  std::shared_ptr<nn::ModuleList> in_projs, out_projs;  // Linear D -> 3D and D -> D, one per weight set
  std::shared_ptr<nn::ModuleList> gating;               // SwiGLU per weight set

 private:
  DepformerConfig c_;
  // f applied to step k of x [N, steps, D] with weight set weight_set(k) of `list`, stacked back.
  template <class M>
  Tensor per_step(const nn::ModuleList& list, const Tensor& x) const;
};

class Depformer : public nn::Module {
 public:
  Depformer(const DepformerConfig& c, Generator& gen, Device device = Device::cpu());
  // temporal [B, T, C]: the temporal transformer's output at each step; tokens [B, T, 1 + steps]:
  // the step's text token, then its audio tokens (teacher forcing: codebook k sees token k - 1).
  // Returns the logits of codebook k, [B, T, audio_vocab], for k = 0 .. steps - 1.
  std::vector<Tensor> forward(const Tensor& temporal, const Tensor& tokens) const;
  // Generation: the audio tokens of one step, codebook after codebook, each one fed to the next
  // in place of teacher forcing. temporal [B, 1, C], text [B, 1] (the step's text token, i64);
  // pick(k, logits [B, audio_vocab]) chooses codebook k's tokens, ids [B] (i64, on the logits'
  // device: nothing need go through the host). Returns what pick returned, codebook by codebook (no
  // copy: a pick that samples into the step's token buffer leaves nothing to gather).
  std::vector<Tensor> generate(const Tensor& temporal, const Tensor& text,
                               const std::function<Tensor(int64_t, const Tensor&)>& pick) const;

  const DepformerConfig& config() const { return c_; }
  std::shared_ptr<nn::ModuleList> in, emb, layers, linears;
  std::shared_ptr<nn::Embedding> text_emb;

 private:
  DepformerConfig c_;
};

}  // namespace ttt
