// TTTBase: everything of a TTT layer outside the inner loop (docs/spec/TTT_SPEC.md sections 1, 2, 5, 6):
// the Q/K/V/O projections, the inner learning-rate gate, ttt_norm, post_norm and RoPE.
//
// forward(x, seq_metadata) is the one public entry, and it is not virtual: it always runs the
// whole layer (project -> L2-norm -> RoPE -> target norm -> step sizes -> inner scan -> merge
// heads -> post_norm -> output projection), so no variant can skip a stage. Variants (TTTLinear,
// TTTMLP, TTTMultiLayer) only name their inner weights and implement the protected ttt_scan();
// code outside the class cannot call it (a compile error, see tests/ttt/test_ttt_layers.cpp).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/rng.h"
#include "nn/layers.h"
#include "nn/module.h"
#include "ttt/config.h"
#include "ttt/inner_scan.h"
#include "ttt/seq_metadata.h"

namespace ttt {

// What a streaming TTT layer keeps between time steps (docs/spec/TTT_SPEC.md section 6a,
// docs/inference.md): per inner layer l and sequence, the weights at the start of the current
// mini-batch (committed at each mini-batch boundary, E15; the learned initial ones at first) and
// the mini-batch's tokens so far: row j holds token j's key-path input X_l[j] and its step eta_j
// G_l[j] (the rows after the current token are the last mini-batch's, and masked). Allocated by
// the first step, then updated in place (a CUDA graph replays a step on the same memory). Like
// the initial weights, the token-place weights w_pos (E6, from the layer's parameters) are read
// once, by the first step.
struct TttStream {
  std::vector<Tensor> w0, b0;  // [B, H, d_l, d_{l+1}], [B, H, 1, d_{l+1}]
  std::vector<Tensor> xs, ds;  // [B, H, b, d_l], [B, H, b, d_{l+1}]
  Tensor positional;           // w_pos [b]
};

class TTTBase : public nn::Module {
 public:
  // x [B, L, C] -> [B, L, C]. L need not be a multiple of the mini-batch size (padded inside).
  Tensor forward(const Tensor& x, const SeqMetadata& meta = {});
  // One time step of a causal stream: x [B, 1, C] -> [B, 1, C] at `position` (i64 [1] on x's
  // device), the same numbers as forward over the whole sequence at that position, in O(1) per
  // token (section 6a): the token's gradients at the mini-batch's start weights join the running
  // sums, and its query runs through W(t) = W0 - w_pos[t] S(t), b(t) = b0 - w_pos[t] s(t); the
  // mini-batch's last token commits them. No host branch on the position: the place in the
  // mini-batch is looked up on the device, so a CUDA graph can replay the step.
  Tensor step(const Tensor& x, TttStream& stream, const Tensor& position) const;

  const TTTConfig& config() const { return config_; }

  // The inner weights at the end of the last forward (names as the parameters: W1, b1, ... or
  // weights.N, biases.N), detached from the tape; per sequence: [B, H, ...].
  std::vector<nn::NamedTensor> inner_state() const;
  // The next forward with continue_from_state starts from these (same names and shapes).
  void set_inner_state(const std::vector<nn::NamedTensor>& state);

  // Outer parameters (names and layouts of docs/spec/TTT_SPEC.md section 7a).
  std::shared_ptr<nn::Linear> wq, wk, wv, wo;
  std::shared_ptr<nn::LayerNorm> post_norm;
  Tensor ttt_norm_weight, ttt_norm_bias;                  // [H, d]
  Tensor learnable_ttt_lr_weight, learnable_ttt_lr_bias;  // [H, 1, d or C], [H, 1]
  Tensor learnable_token_idx_bias;                        // [b], causal mode only

 protected:
  TTTBase(std::string kind, const TTTConfig& config, Generator& gen, Device device);

  // Initial values of the inner model (layer order): weights N(0, 0.02) [H, d_l, d_{l+1}], biases 0.
  struct InnerInit {
    std::vector<Tensor> weights, biases;
  };
  InnerInit initial_inner(Generator& gen, Device device) const;
  // Called by each variant once it has registered its inner parameters under its own names.
  void set_inner_params(std::vector<Tensor> weights, std::vector<Tensor> biases, std::vector<std::string> weight_names,
                        std::vector<std::string> bias_names);
  // The inner loop over all mini-batches (docs/spec/TTT_SPEC.md sections 3-4).
  virtual ScanOutputs ttt_scan(const ScanInputs& inputs) = 0;
  // The default ttt_scan body: the composed autograd-op scan (inner_scan.h), or the fused one
  // (fused_scan.h) when config.use_kernel.
  ScanOutputs default_scan(const ScanInputs& inputs) const;

  std::vector<Tensor> inner_weights_, inner_biases_;

 private:
  Tensor step_sizes(const Tensor& x, int64_t valid, int64_t n) const;      // E4-E7
  Tensor reconstruction_target(const Tensor& xk, const Tensor& xv) const;  // E2a, E9

  TTTConfig config_;
  std::vector<std::string> weight_names_, bias_names_;
  std::vector<Tensor> state_w_, state_b_;      // after the last forward, detached
  std::vector<Tensor> carried_w_, carried_b_;  // set by set_inner_state
};

}  // namespace ttt
