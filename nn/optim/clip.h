// Global-norm gradient clipping: norm = sqrt(sum over parameters of sum(g^2)); when it exceeds
// max_norm every gradient is multiplied by max_norm / (norm + 1e-6) (PyTorch's clip_grad_norm_).
// Both figures stay on the device as one-element tensors: no host synchronisation in a step.
#pragma once
#include <vector>

#include "core/tensor.h"

namespace ttt::nn {

struct GradNorm {
  Tensor norm;   // the norm before clipping
  Tensor scale;  // min(1, max_norm / (norm + 1e-6)); 1 when max_norm <= 0 (no clipping)
};

// Parameters without a gradient are skipped. Gradients are not modified: pass `scale` to
// AdamW::step (fused), or call scale_gradients for PyTorch's in-place behaviour.
GradNorm global_grad_norm(const std::vector<Tensor>& params, double max_norm);
void scale_gradients(const std::vector<Tensor>& params, const Tensor& scale);

}  // namespace ttt::nn
