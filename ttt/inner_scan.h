// The composed TTT inner loop (docs/spec/TTT_SPEC.md sections 3-4), written with autograd ops so the outer
// backward differentiates through it. One call scans every mini-batch of a sequence: at each, the
// inner model takes one gradient step on its reconstruction loss (E9-E11) and produces outputs
// for the mini-batch's queries with the per-token updated weights (E12-E14, dual form), then
// carries the step at the last token to the next mini-batch (E15).
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"
#include "ttt/config.h"

namespace ttt {

struct ScanInputs {
  Tensor xq, xk, target;        // [B, H, n, b, d]: queries, keys, and XV - XK (E9's target)
  Tensor eta;                   // [B, H, n, b, b]: step sizes eta[i, j], mask T applied (E7)
  Tensor ln_weight, ln_bias;    // [H, d]: ttt_norm (E8)
  std::vector<Tensor> weights;  // initial inner state, layer l: [B or 1, H, d_l, d_{l+1}]
  std::vector<Tensor> biases;   //                               [B or 1, H, 1, d_{l+1}]
};

struct ScanOutputs {
  Tensor out;                           // [B, H, n, b, d]: Q + LN(f_updated(Q)) (E14)
  std::vector<Tensor> weights, biases;  // the inner state after the last mini-batch
};

struct ScanOptions {
  ScanForm form = ScanForm::dual;  // dual (E13) or primal (per-token weights; for tests)
  int64_t checkpoint_group = 0;    // 0: record everything; k: recompute groups of k mini-batches
  double ln_eps = 1e-6;            // E8/E10
  // The fused scan's products in f32 (f64 scans are always exact): exact, or operands rounded to
  // TF32 / bf16 with f32 sums (TTTConfig::scan_precision). The composed scan ignores it: its
  // products follow compute::set_matmul_precision.
  MatmulPrecision precision = MatmulPrecision::f32;
};

ScanOutputs composed_scan(const ScanInputs& in, const ScanOptions& opt);

// y = LN(z) * weight + bias with per-head weight/bias [H, d] on z [B, H, ..., d] (E8, E14).
Tensor head_layer_norm(const Tensor& z, const Tensor& ln_weight, const Tensor& ln_bias, double eps);

}  // namespace ttt
