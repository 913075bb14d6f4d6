#include "nn/layers.h"

#include <cmath>

#include "autograd/ops.h"
#include "nn/init.h"
#include "nn/precision.h"

namespace ttt::nn {

Linear::Linear(int64_t in, int64_t out, bool with_bias, Generator& gen, Device device) : Module("Linear") {
  const double k = 1.0 / std::sqrt(static_cast<double>(in));
  weight = register_parameter("weight", init::uniform({out, in}, -k, k, gen, device));
  if (with_bias) bias = register_parameter("bias", init::uniform({out}, -k, k, gen, device));
}

Tensor Linear::forward(const Tensor& x) const {
  Scope scope(*this);
  const Tensor xa = autocast(x);  // bf16 in a bf16 scope (nn/precision.h)
  if (weight.dtype() == DType::bf16 && xa.dtype() != DType::bf16) {
    // a weight stored in bf16 (store_frozen_in_bf16) meets f32 activations: the product runs in
    // bf16, as it would in a bf16 scope, and its result returns to f32
    Tensor y = matmul(cast(xa, DType::bf16), weight, false, true);
    if (bias.defined()) y = add(y, like(bias, y));
    return cast(y, xa.dtype());
  }
  Tensor y = matmul(xa, autocast(weight), false, true);
  return bias.defined() ? add(y, autocast(bias)) : y;
}

Tensor Linear::forward_add(Tensor residual, const Tensor& x) const {
  const Tensor xa = autocast(x);
  // one product when the weight, the activation and the residual share a dtype and there is no
  // bias (a streaming step's bf16-stored weights in bf16 activations; f32 models); else the sum
  if (bias.defined() || weight.dtype() != xa.dtype() || residual.dtype() != xa.dtype()) return add(residual, forward(x));
  Scope scope(*this);
  return matmul_add(std::move(residual), xa, weight, false, true);
}

Embedding::Embedding(int64_t num, int64_t dim, Generator& gen, Device device) : Module("Embedding") {
  weight = register_parameter("weight", init::normal({num, dim}, 0.0, 1.0, gen, device));
}

Tensor Embedding::forward(const Tensor& ids) const {
  Scope scope(*this);
  Tensor rows = embedding(weight, ids);  // looked up in f32: the table's gradient sums in f32
  if (activation_dtype() == DType::bf16) return autocast(rows);
  // a table stored in bf16 (store_frozen_in_bf16) in f32 activations: its rows in f32
  return rows.dtype() == DType::bf16 ? cast(rows, DType::f32) : rows;
}

LayerNorm::LayerNorm(int64_t dim, double eps_, bool affine, Device device) : Module("LayerNorm"), eps(eps_) {
  if (affine) {
    weight = register_parameter("weight", init::ones({dim}, device));
    bias = register_parameter("bias", init::zeros({dim}, device));
  }
}

Tensor LayerNorm::forward(const Tensor& x) const {
  Scope scope(*this);
  return layer_norm(x, like(weight, x), like(bias, x), eps);
}

RMSNorm::RMSNorm(int64_t dim, double eps_, Device device) : Module("RMSNorm"), eps(eps_) {
  weight = register_parameter("weight", init::ones({dim}, device));
}

Tensor RMSNorm::forward(const Tensor& x) const {
  Scope scope(*this);
  return rms_norm(x, like(weight, x), eps);
}

}  // namespace ttt::nn
