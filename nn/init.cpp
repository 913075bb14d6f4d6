#include "nn/init.h"

#include "autograd/ops.h"
#include "core/compute.h"

namespace ttt::nn::init {

Tensor normal(const Shape& shape, double mean, double std, Generator& gen, Device device) {
  if (device.is_meta()) return empty(shape, DType::f32, device);
  return compute::unary(UnaryOp::affine, randn(shape, gen, DType::f32, device), std, mean);
}

Tensor uniform(const Shape& shape, double lo, double hi, Generator& gen, Device device) {
  if (device.is_meta()) return empty(shape, DType::f32, device);
  return compute::unary(UnaryOp::affine, rand(shape, gen, DType::f32, device), hi - lo, lo);
}

Tensor zeros(const Shape& shape, Device device) { return ttt::zeros(shape, DType::f32, device); }
Tensor ones(const Shape& shape, Device device) { return ttt::ones(shape, DType::f32, device); }
Tensor constant(const Shape& shape, double value, Device device) { return full(shape, value, DType::f32, device); }

}  // namespace ttt::nn::init
