#include "ttt/gating.h"

#include "autograd/ops.h"
#include "nn/init.h"
#include "nn/precision.h"

namespace ttt {

SSMGating::SSMGating(int64_t width, double init_value, double clamp, Device device)
    : nn::Module("SSMGating"), clamp_value(clamp) {
  gating_alpha = register_parameter("gating_alpha", nn::init::constant({width}, init_value, device));
}

Tensor SSMGating::forward(const Tensor& y) const {
  Scope scope(*this);
  return mul(gate(y), y);
}

Tensor SSMGating::gate(const Tensor& y) const {
  Scope scope(*this);
  const Tensor alpha = clamp_value > 0 ? clamp(gating_alpha, -clamp_value, clamp_value) : gating_alpha;
  return nn::like(tanh(alpha), y);
}

}  // namespace ttt
