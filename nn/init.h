// Initial values for parameters, drawn from the seeded counter-based generator so that the same
// seed gives the same model on CPU and CUDA. On the meta device nothing is drawn or allocated.
#pragma once
#include "core/rng.h"
#include "core/tensor.h"

namespace ttt::nn::init {

Tensor normal(const Shape& shape, double mean, double std, Generator& gen, Device device = Device::cpu());
Tensor uniform(const Shape& shape, double lo, double hi, Generator& gen, Device device = Device::cpu());
Tensor zeros(const Shape& shape, Device device = Device::cpu());
Tensor ones(const Shape& shape, Device device = Device::cpu());
Tensor constant(const Shape& shape, double value, Device device = Device::cpu());

}  // namespace ttt::nn::init
