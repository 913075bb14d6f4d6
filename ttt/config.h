// Configuration of one TTT layer (docs/spec/TTT_SPEC.md sections 1-6). validate() names every problem.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ttt {

struct TTTConfig {
  std::string variant = "mlp";            // linear | mlp | multilayer
  int64_t width = 64;                     // C
  int64_t heads = 4;                      // H; head dim d = C / H
  int64_t mlp_expansion = 4;              // TTT-MLP hidden = expansion * d
  std::vector<int64_t> mlp_dims;          // TTT-MultiLayer: [d, h1, ..., d]
  int64_t mini_batch_size = 16;           // b
  double ttt_base_lr = 1.0;               // E5 (references: 1.0 for linear, 0.1 for mlp)
  bool qk_l2_norm = true;                 // E1a
  std::string rope_positions = "global";  // E2: global | minibatch | none
  double rope_theta = 10000.0;
  bool target_norm = true;                // E2a
  std::string lr_gate = "per_head";       // E4: per_head | full_width
  std::string minibatch_mode = "causal";  // E6 (a.k.a. eta_mode): causal | full
  int64_t scan_checkpoint_group = 0;      // 0: keep every mini-batch; k >= 1: recompute groups of k
  std::string scan_form = "dual";         // dual (E13) | primal (token by token; for tests)
  bool use_kernel = false;                // the fused scan (fused_scan.h) instead of the composed one

  int64_t head_dim() const { return heads > 0 ? width / heads : 0; }
  // The inner model's layer widths [d, ..., d] for this variant.
  std::vector<int64_t> inner_dims() const;
};

// Throws ttt::Error listing every invalid field (prefix names the config's place, e.g. "layers.3.ttt").
void validate(const TTTConfig& c, const std::string& where = "ttt");

}  // namespace ttt
