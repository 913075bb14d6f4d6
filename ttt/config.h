// Configuration of one TTT layer (docs/spec/TTT_SPEC.md sections 1-6). validate() names every problem.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/enum_names.h"
#include "core/kernel_args.h"

namespace ttt {

enum class TTTVariant { linear, mlp, multilayer };
enum class RopePositions { global, minibatch, none };  // E2
enum class LrGate { per_head, full_width };            // E4
enum class MiniBatchMode { causal, full };             // E6
enum class ScanForm { dual, primal };                  // dual (E13) | primal (token by token; for tests)

template <>
struct EnumNames<TTTVariant> {
  static constexpr const char* what = "variant";
  static constexpr std::pair<TTTVariant, const char*> names[] = {
      {TTTVariant::linear, "linear"}, {TTTVariant::mlp, "mlp"}, {TTTVariant::multilayer, "multilayer"}};
};
template <>
struct EnumNames<RopePositions> {
  static constexpr const char* what = "rope_positions";
  static constexpr std::pair<RopePositions, const char*> names[] = {
      {RopePositions::global, "global"}, {RopePositions::minibatch, "minibatch"}, {RopePositions::none, "none"}};
};
template <>
struct EnumNames<LrGate> {
  static constexpr const char* what = "lr_gate";
  static constexpr std::pair<LrGate, const char*> names[] = {{LrGate::per_head, "per_head"}, {LrGate::full_width, "full_width"}};
};
template <>
struct EnumNames<MiniBatchMode> {
  static constexpr const char* what = "minibatch_mode";
  static constexpr std::pair<MiniBatchMode, const char*> names[] = {{MiniBatchMode::causal, "causal"},
                                                                    {MiniBatchMode::full, "full"}};
};
template <>
struct EnumNames<ScanForm> {
  static constexpr const char* what = "scan_form";
  static constexpr std::pair<ScanForm, const char*> names[] = {{ScanForm::dual, "dual"}, {ScanForm::primal, "primal"}};
};

// run.matmul_precision and ttt.scan_precision
template <>
struct EnumNames<MatmulPrecision> {
  static constexpr const char* what = "matmul precision";
  static constexpr std::pair<MatmulPrecision, const char*> names[] = {
      {MatmulPrecision::f32, "f32"}, {MatmulPrecision::tf32, "tf32"}, {MatmulPrecision::bf16, "bf16"}};
};

struct TTTConfig {
  TTTVariant variant = TTTVariant::mlp;
  int64_t width = 64;                                    // C
  int64_t heads = 4;                                     // H; head dim d = C / H
  int64_t mlp_expansion = 4;                             // TTT-MLP hidden = expansion * d
  std::vector<int64_t> mlp_dims;                         // TTT-MultiLayer: [d, h1, ..., d]
  int64_t mini_batch_size = 16;                          // b
  double ttt_base_lr = 1.0;                              // E5 (references: 1.0 for linear, 0.1 for mlp)
  bool qk_l2_norm = true;                                // E1a
  RopePositions rope_positions = RopePositions::global;  // E2: position t, t mod b, or no RoPE
  double rope_theta = 10000.0;
  bool target_norm = true;                               // E2a
  LrGate lr_gate = LrGate::per_head;                     // E4
  MiniBatchMode minibatch_mode = MiniBatchMode::causal;  // E6 (a.k.a. eta_mode)
  int64_t scan_checkpoint_group = 0;                     // 0: keep every mini-batch; k >= 1: recompute groups of k
  ScanForm scan_form = ScanForm::dual;
  bool use_kernel = false;  // the fused scan (fused_scan.h) instead of the composed one
  // The fused scan's matrix products: f32, or operands rounded to TF32 / bf16 with f32 sums (the
  // tensor-core scan's arithmetic: on a GPU, mma instructions; on the CPU, rounded operands). The
  // composed scan follows run.matmul_precision instead.
  MatmulPrecision scan_precision = MatmulPrecision::f32;

  int64_t head_dim() const { return heads > 0 ? width / heads : 0; }
  // The inner model's layer widths [d, ..., d] for this variant.
  std::vector<int64_t> inner_dims() const;
};

// Throws ttt::Error listing every invalid field (prefix names the config's place, e.g. "layers.3.ttt").
void validate(const TTTConfig& c, const std::string& where = "ttt");

}  // namespace ttt
