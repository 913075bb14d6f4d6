// Basic layers: Linear, Embedding, LayerNorm, RMSNorm. PyTorch's parameter names and layouts
// (Linear weight is [out, in]) so that state dicts interoperate.
#pragma once
#include "core/rng.h"
#include "nn/module.h"

namespace ttt::nn {

// y = x W^T + b. Initialised like PyTorch: uniform(-1/sqrt(in), 1/sqrt(in)) for W and b.
class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias, Generator& gen, Device device = Device::cpu());
  Tensor forward(const Tensor& x) const;
  // residual + forward(x), the sum made by the product itself where the dtypes allow (matmul_add:
  // one GEMM that adds into residual's buffer when the caller hands over its only handle, e.g. a
  // residual stream moved in) instead of a product and then an add; equal up to rounding.
  Tensor forward_add(Tensor residual, const Tensor& x) const;
  Tensor weight, bias;  // bias undefined when bias = false
};

// Rows of a [num, dim] table, N(0, 1) initialised like PyTorch.
class Embedding : public Module {
 public:
  Embedding(int64_t num, int64_t dim, Generator& gen, Device device = Device::cpu());
  Tensor forward(const Tensor& ids) const;
  Tensor weight;
};

class LayerNorm : public Module {
 public:
  LayerNorm(int64_t dim, double eps, bool affine = true, Device device = Device::cpu());
  Tensor forward(const Tensor& x) const;
  Tensor weight, bias;
  double eps;
};

// Weight only; statistic computed in f32 (Moshi's RMSNorm).
class RMSNorm : public Module {
 public:
  RMSNorm(int64_t dim, double eps, Device device = Device::cpu());
  Tensor forward(const Tensor& x) const;
  Tensor weight;
  double eps;
};

}  // namespace ttt::nn
