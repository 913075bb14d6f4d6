// The Moshi-like hybrid stack (docs/spec/MOSHI_SPEC.md): per-stream embeddings summed per time
// step, pre-norm transformer layers (RMSNorm, RoPE attention, SwiGLU), some of them hybrid with a
// gated TTT branch, a final RMSNorm and one output head per stream.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/enum_names.h"
#include "nn/attention.h"
#include "nn/containers.h"
#include "ttt/depformer.h"
#include "ttt/gating.h"
#include "ttt/ttt_variants.h"

namespace ttt {

// How the audio streams are predicted: a linear head per stream from the temporal transformer's
// output (small models), or Moshi's depformer (ttt/depformer.h), which predicts the first
// depformer.steps audio streams codebook by codebook; the streams after those are input only
// (Moshi's user audio).
enum class AudioHead { linear, depformer };

template <>
struct EnumNames<AudioHead> {
  static constexpr const char* what = "model.audio_head";
  static constexpr std::pair<AudioHead, const char*> names[] = {{AudioHead::linear, "linear"},
                                                                {AudioHead::depformer, "depformer"}};
};

// moshi-finetune's loss (audio_head: depformer): total = text_weight * text + audio_weight * audio,
// each a weighted mean sum(w * ce) / sum(w) over the positions with a target; the text targets in
// text_padding_ids weigh text_padding_weight, audio codebook 0 weighs first_codebook_weight, the
// other codebooks 1. Defaults: moshi-finetune's example config for Moshi 7B.
struct MoshiLossConfig {
  double text_weight = 1.0;
  double audio_weight = 1.0;
  double first_codebook_weight = 100.0;
  std::vector<int64_t> text_padding_ids = {3, 0};  // Moshi's text padding and end-of-padding ids
  double text_padding_weight = 0.5;
};

struct ModelConfig {
  int64_t width = 64;  // C
  int64_t num_layers = 2;
  int64_t num_heads = 4;               // attention heads (head dim = C / heads)
  int64_t ffn_hidden = 0;              // SwiGLU hidden h; 0: 2/3 * 4.125 * C rounded to a multiple of 64 (Moshi)
  std::vector<int64_t> hybrid_layers;  // indices, negatives from the end
  int64_t text_vocab = 256;
  int64_t audio_streams = 0;  // K codebook streams after the text stream
  int64_t audio_vocab = 0;
  int64_t context = 0;  // attention window in steps; 0 = unlimited
  double rope_theta = 10000.0;
  bool attention_recompute = false;            // rebuild the attention weights in backward instead of keeping them
  bool checkpoint_layers = false;              // keep only each layer's input for backward; run the layer again there
  bool checkpoint_ttt = false;                 // the same for the TTT branches only (their scan keeps the most)
  std::vector<int64_t> checkpoint_ttt_layers;  // only these layers' TTT branches (indices as hybrid_layers)
  double norm_eps = 1e-8;
  bool causal = true;           // a causal stack refuses full-mode TTT and bidirectional branches
  bool bidirectional = false;   // add a reversed-sequence TTT branch with its own gate
  bool ttt_input_norm = false;  // the TTT branch reads norm_ttt(h) instead of h
  double gate_init = 0.1;
  double gate_clamp = 0.0;             // clamp alpha to [-c, c] before tanh; 0 = off
  std::vector<double> stream_weights;  // loss weight per stream; empty = all 1
  TTTConfig ttt;                       // the TTT branch of hybrid layers (width is the model's)
  AudioHead audio_head = AudioHead::linear;
  DepformerConfig depformer;   // audio_head: depformer (its model_width and vocabs are the model's)
  MoshiLossConfig moshi_loss;  // audio_head: depformer

  int64_t num_streams() const { return 1 + audio_streams; }
  // The streams the loss predicts: every stream, or the text and the depformer's steps.
  int64_t predicted_streams() const { return audio_head == AudioHead::depformer ? 1 + depformer.steps : num_streams(); }
  DepformerConfig depformer_config() const;  // depformer with the model's width and vocabs filled in
  int64_t vocab(int64_t stream) const { return stream == 0 ? text_vocab : audio_vocab; }
  int64_t pad_id(int64_t stream) const { return vocab(stream); }  // the extra "no token" row
  int64_t hidden() const;
  bool is_hybrid(int64_t layer) const;
  // Whether layer's TTT branch runs again in backward: checkpoint_ttt (every branch) or the layer
  // listed in checkpoint_ttt_layers.
  bool checkpoints_ttt(int64_t layer) const;
};

// Every problem with the model config (empty when valid); `where` prefixes the key paths.
std::vector<std::string> model_config_problems(const ModelConfig& c, const std::string& where = "model");

// What one layer keeps between the time steps of a stream (docs/inference.md).
struct LayerStream {
  nn::KVCache attention;
  TttStream ttt;
  Tensor gate;  // the TTT branch's gate tanh(alpha), read once by the first step (as the TTT state's parameters)
};

// A stream through the model: every layer's state, the position of the next step on the model's
// device (i64 [1]: steps read it there, so a CUDA graph can replay one), and on the host the steps
// taken and the most the stream may take (the KV caches' length when attention has no window).
struct ModelStream {
  std::vector<LayerStream> layers;
  Tensor position;
  int64_t steps = 0;  // hidden_step counts; a caller replaying a captured step counts its replays
  int64_t max_steps = 0;
};

// One pre-norm block: h += attn(norm1(h)); [h += gate(ttt(h))]; h += ffn(norm2(h)).
class TransformerLayer : public nn::Module {
 public:
  TransformerLayer(const ModelConfig& c, int64_t index, Generator& gen, Device device);
  Tensor forward(const Tensor& h, const SeqMetadata& meta) const;
  // One time step h [B, 1, C] of a causal stream (forward's numbers at that position). h is taken
  // by value: moved in as the stream's only handle, its buffer takes the residual sums.
  Tensor step(Tensor h, LayerStream& stream, const Tensor& position) const;

  std::shared_ptr<nn::RMSNorm> norm1, norm2, norm_ttt;
  std::shared_ptr<nn::MultiHeadAttention> self_attn;
  std::shared_ptr<nn::SwiGLU> ffn;
  std::shared_ptr<TTTBase> ttt;  // hybrid layers only
  std::shared_ptr<SSMGating> forward_ssm_gating, backward_ssm_gating;

 private:
  Tensor ttt_branch(const Tensor& u, const SeqMetadata& meta) const;  // the gated TTT output(s) added to h
  std::vector<Tensor> ttt_branch_parameters() const;                  // what ttt_branch reads besides u
  bool checkpoint_ttt_ = false;
};

class HybridLM : public nn::Module {
 public:
  HybridLM(const ModelConfig& c, Generator& gen, Device device = Device::cpu());

  // tokens [B, S, streams] (int) -> logits per stream [B, S, vocab(s)] (audio_head: linear).
  std::vector<Tensor> forward(const Tensor& tokens) const;
  // Logits per predicted stream for inputs [B, S, streams]; with the depformer, its audio logits
  // are teacher-forced with the step's own tokens, targets [B, S, streams] (for linear heads the
  // targets are not read).
  std::vector<Tensor> logits(const Tensor& inputs, const Tensor& targets) const;
  // The stack's output before the heads (after out_norm), [B, S, C]: what Moshi's depformer reads.
  Tensor hidden(const Tensor& tokens) const;

  // Streaming (docs/inference.md): a fresh stream, then one time step at a time. tokens [B, 1,
  // streams] of the next step -> the stack's output for it [B, 1, C], equal to hidden() of the
  // whole sequence at that position; logits_step adds the heads (linear audio heads: every
  // stream; depformer: the text head, then Depformer::generate for the audio). A stream takes at
  // most max_steps steps (attention layers without a window keep that many keys).
  ModelStream start_stream(int64_t max_steps) const;
  Tensor hidden_step(const Tensor& tokens, ModelStream& stream) const;
  std::vector<Tensor> logits_step(const Tensor& tokens, ModelStream& stream) const;

  struct Loss {
    Tensor total;                    // linear heads: the weighted mean over streams; depformer: moshi_loss's sum
    std::vector<Tensor> per_stream;  // each a scalar (depformer: the text loss, then the audio loss)
  };
  // What the depformer's loss compares against, built on the host from a batch's targets: per
  // predicted stream the target, -1 where there is none (the pad id, or no token), and its weight
  // (MoshiLossConfig); [B, S, predicted streams], i64 and f32. Empty for linear heads. Targets on
  // the meta device give meta tensors (the memory estimate).
  struct LossTargets {
    Tensor targets, weights;
  };
  LossTargets loss_targets(const Tensor& targets) const;
  // Cross-entropy of logits(inputs, targets) against targets [B, S, streams]; pad ids are ignored.
  // The depformer's loss uses `prepared` (loss_targets of these targets, on the model's device)
  // when given, else builds it (a copy to the host).
  Loss loss(const Tensor& inputs, const Tensor& targets, const LossTargets& prepared = {}) const;
  // The same from logits(inputs, targets) already computed (evaluation reads them too).
  Loss loss_from_logits(const std::vector<Tensor>& logits, const Tensor& targets, const LossTargets& prepared = {}) const;

  const ModelConfig& config() const { return config_; }
  std::shared_ptr<nn::ModuleList> emb, layers, heads;
  std::shared_ptr<nn::RMSNorm> out_norm;
  std::shared_ptr<Depformer> depformer;  // audio_head: depformer

 private:
  Loss depformer_loss(const std::vector<Tensor>& logits, const LossTargets& t) const;
  Tensor embed(const Tensor& tokens) const;  // the streams' embeddings, summed: [B, S, C]
  ModelConfig config_;
};

}  // namespace ttt
