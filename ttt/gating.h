// The gate of a hybrid layer's TTT branch (docs/spec/TTT_SPEC.md section 6): gate(y) = tanh(alpha) o y with
// alpha [C] initialised small, optionally clamped to [-clamp, clamp] before tanh (the Moshi TTT
// project clamps to [-3, 3]). The parameter is named gating_alpha.
#pragma once
#include "nn/module.h"

namespace ttt {

class SSMGating : public nn::Module {
 public:
  SSMGating(int64_t width, double init_value = 0.1, double clamp = 0.0, Device device = Device::cpu());
  Tensor forward(const Tensor& y) const;
  // tanh(alpha) (clamped first), in y's dtype: forward(y) = gate(y) o y. A stream computes it once.
  Tensor gate(const Tensor& y) const;
  Tensor gating_alpha;
  double clamp_value;  // 0: no clamp
};

}  // namespace ttt
