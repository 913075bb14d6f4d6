#include "nn/optim/clip.h"

#include "core/compute.h"

namespace ttt::nn {

GradNorm global_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  Tensor total;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    Tensor sq = compute::reduce(ReduceOp::sum, compute::unary(UnaryOp::square, g), {}, false);
    total = total.defined() ? compute::binary(BinaryOp::add, total, sq) : sq;
  }
  const Device device = params.empty() ? Device::cpu() : params.front().device();
  if (!total.defined()) total = zeros({}, DType::f32, device);
  GradNorm r;
  r.norm = compute::unary(UnaryOp::sqrt, total);
  if (max_norm <= 0) {
    r.scale = ones({}, r.norm.dtype(), r.norm.device());
    return r;
  }
  // scale = min(1, max_norm / (norm + 1e-6))
  Tensor denom = compute::unary(UnaryOp::affine, r.norm, 1.0, 1e-6);
  Tensor ratio = compute::binary(BinaryOp::div, full({}, max_norm, denom.dtype(), denom.device()), denom);
  r.scale = compute::unary(UnaryOp::clamp, ratio, 0.0, 1.0);
  return r;
}

void scale_gradients(const std::vector<Tensor>& params, const Tensor& scale) {
  for (const Tensor& p : params)
    if (p.grad().defined()) Tensor(p).set_grad(compute::binary(BinaryOp::mul, p.grad(), scale));
}

}  // namespace ttt::nn
