// The Moshi-like hybrid stack (docs/spec/MOSHI_SPEC.md): per-stream embeddings summed per time
// step, pre-norm transformer layers (RMSNorm, RoPE attention, SwiGLU), some of them hybrid with a
// gated TTT branch, a final RMSNorm and one output head per stream.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nn/attention.h"
#include "nn/containers.h"
#include "ttt/gating.h"
#include "ttt/ttt_variants.h"

namespace ttt {

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
  bool attention_recompute = false;  // rebuild the attention weights in backward instead of keeping them
  double norm_eps = 1e-8;
  bool causal = true;           // a causal stack refuses full-mode TTT and bidirectional branches
  bool bidirectional = false;   // add a reversed-sequence TTT branch with its own gate
  bool ttt_input_norm = false;  // the TTT branch reads norm_ttt(h) instead of h
  double gate_init = 0.1;
  double gate_clamp = 0.0;             // clamp alpha to [-c, c] before tanh; 0 = off
  std::vector<double> stream_weights;  // loss weight per stream; empty = all 1
  TTTConfig ttt;                       // the TTT branch of hybrid layers (width is the model's)

  int64_t num_streams() const { return 1 + audio_streams; }
  int64_t vocab(int64_t stream) const { return stream == 0 ? text_vocab : audio_vocab; }
  int64_t pad_id(int64_t stream) const { return vocab(stream); }  // the extra "no token" row
  int64_t hidden() const;
  bool is_hybrid(int64_t layer) const;
};

// Every problem with the model config (empty when valid); `where` prefixes the key paths.
std::vector<std::string> model_config_problems(const ModelConfig& c, const std::string& where = "model");

// One pre-norm block: h += attn(norm1(h)); [h += gate(ttt(h))]; h += ffn(norm2(h)).
class TransformerLayer : public nn::Module {
 public:
  TransformerLayer(const ModelConfig& c, bool hybrid, Generator& gen, Device device);
  Tensor forward(const Tensor& h, const SeqMetadata& meta) const;

  std::shared_ptr<nn::RMSNorm> norm1, norm2, norm_ttt;
  std::shared_ptr<nn::MultiHeadAttention> self_attn;
  std::shared_ptr<nn::SwiGLU> ffn;
  std::shared_ptr<TTTBase> ttt;  // hybrid layers only
  std::shared_ptr<SSMGating> forward_ssm_gating, backward_ssm_gating;
};

class HybridLM : public nn::Module {
 public:
  HybridLM(const ModelConfig& c, Generator& gen, Device device = Device::cpu());

  // tokens [B, S, streams] (int) -> logits per stream [B, S, vocab(s)].
  std::vector<Tensor> forward(const Tensor& tokens) const;
  // The stack's output before the heads (after out_norm), [B, S, C]: what Moshi's depformer reads.
  Tensor hidden(const Tensor& tokens) const;

  struct Loss {
    Tensor total;                    // weighted mean over streams (scalar)
    std::vector<Tensor> per_stream;  // each a scalar
  };
  // Cross-entropy of logits(inputs) against targets [B, S, streams]; pad ids are ignored.
  Loss loss(const Tensor& inputs, const Tensor& targets) const;

  const ModelConfig& config() const { return config_; }
  std::shared_ptr<nn::ModuleList> emb, layers, heads;
  std::shared_ptr<nn::RMSNorm> out_norm;

 private:
  ModelConfig config_;
};

}  // namespace ttt
