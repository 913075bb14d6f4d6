#include "nn/precision.h"

#include "autograd/ops.h"
#include "core/error.h"

namespace ttt::nn {

namespace {
thread_local DType g_activation_dtype = DType::f32;
}

ActivationScope::ActivationScope(DType dtype) : previous_(g_activation_dtype) {
  TTT_CHECK(dtype == DType::f32 || dtype == DType::bf16, "ActivationScope", "activations are f32 or bf16, got ",
            dtype_name(dtype));
  g_activation_dtype = dtype;
}
ActivationScope::~ActivationScope() { g_activation_dtype = previous_; }

DType activation_dtype() { return g_activation_dtype; }

Tensor autocast(const Tensor& t) {
  if (g_activation_dtype != DType::bf16 || !t.defined() || t.dtype() != DType::f32) return t;
  return cast(t, DType::bf16);
}

Tensor like(const Tensor& p, const Tensor& x) {
  if (!p.defined() || !x.defined() || p.dtype() == x.dtype() || !is_floating(p.dtype()) || !is_floating(x.dtype())) return p;
  return cast(p, x.dtype());
}

int64_t store_frozen_in_bf16(Module& root) {
  int64_t converted = 0;
  for (auto& [name, p] : root.named_parameters())
    if (!p.requires_grad() && p.dtype() == DType::f32) {
      Tensor param = p;  // shares the parameter's handle: set_data replaces its storage in place
      param.set_data(to_dtype(p, DType::bf16));
      converted += p.numel();
    }
  return converted;
}

}  // namespace ttt::nn
