// CPU AdamW, the same formula as the CUDA kernel (core/cuda/optim.cu) and PyTorch's AdamW.
#include <cmath>

#include "core/backend.h"

namespace ttt::cpu {

void adamw_step(const std::vector<AdamWTensor>& tensors, const AdamWHyper& h, const float* grad_scale) {
  const float scale = grad_scale ? *grad_scale : 1.0f;
  const float bc2_sqrt = std::sqrt(h.bias_correction2);
  for (const AdamWTensor& t : tensors) {
    const float step_size = t.lr / h.bias_correction1;
    for (int64_t i = 0; i < t.numel; ++i) {
      const float g = t.grad[i] * scale;
      t.param[i] *= 1.0f - t.lr * t.weight_decay;             // decoupled weight decay
      t.exp_avg[i] += (1.0f - h.beta1) * (g - t.exp_avg[i]);  // m = b1 m + (1 - b1) g
      t.exp_avg_sq[i] = h.beta2 * t.exp_avg_sq[i] + (1.0f - h.beta2) * g * g;
      const float denom = std::sqrt(t.exp_avg_sq[i]) / bc2_sqrt + h.eps;
      t.param[i] -= step_size * t.exp_avg[i] / denom;
    }
  }
}

}  // namespace ttt::cpu
