// Causal multi-head self-attention in Moshi's style: one fused bias-free QKV projection
// (in_proj [3C, C]), RoPE on queries and keys (interleaved pairs, max period rope_theta), an
// optional sliding context window, softmax(QK^T / sqrt(d)) V, and a bias-free output projection.
#pragma once
#include "core/rng.h"
#include "nn/layers.h"

namespace ttt::nn {

// What a streaming attention layer keeps between time steps (docs/inference.md): the rotated keys
// and the values in a ring of `slots` places, [B, H, slots, d]; the step at position t writes
// place t mod slots, and a query reads the places written so far. slots is the context window
// when the layer has one (a place is overwritten as it leaves the window), else the stream's
// length (HybridLM::start_stream sets it). Allocated by the first step, as one buffer kv
// [2, B, H, slots, d] whose halves k and v view: a step whose key and value rows lie side by side
// ([2, B, H, 1, d], as a fused projection makes them) writes both with one kernel.
struct KVCache {
  Tensor kv, k, v;
  int64_t slots = 0;
  void allocate(const Shape& one_half, DType dtype, Device device, bool zeroed);  // kv, then k and v
};

class MultiHeadAttention : public Module {
 public:
  // context: how many past steps a query may see (itself included); 0 = unlimited.
  // causal = false lets every position attend to every other (video-style use).
  MultiHeadAttention(int64_t width, int64_t heads, int64_t context, double rope_theta, bool causal, Generator& gen,
                     Device device = Device::cpu());
  Tensor forward(const Tensor& x) const;  // [B, S, C] -> [B, S, C]
  // One time step of a causal stream, added to the residual stream: residual + attention(x), x and
  // residual [B, 1, C], at `position` (i64 [1] on x's device: the step's index in the stream), its
  // key and value written into the cache; the same numbers as residual + forward over the whole
  // sequence at that position. The output projection adds into residual (Linear::forward_add).
  // Nothing is read back to the host, so a CUDA graph can replay it.
  Tensor step_add(Tensor residual, const Tensor& x, KVCache& cache, const Tensor& position) const;

  std::shared_ptr<Linear> in_proj, out_proj;
  int64_t heads, context;
  double rope_theta;
  bool causal;
  // Keep each query's log-sum-exp instead of the [B, H, S, S] attention weights for backward, which
  // rebuilds them (the attention op's `recompute`): much less memory, one more product.
  bool recompute_weights = false;
};

// Moshi's gated feed-forward: linear_in [2h, C] (first half through SiLU, times the second half),
// then linear_out [C, h]; no biases.
class SwiGLU : public Module {
 public:
  SwiGLU(int64_t width, int64_t hidden, Generator& gen, Device device = Device::cpu());
  Tensor forward(const Tensor& x) const;
  Tensor forward_add(Tensor residual, const Tensor& x) const;  // residual + forward(x) (Linear::forward_add)

  std::shared_ptr<Linear> linear_in, linear_out;
  int64_t hidden;
};

}  // namespace ttt::nn
