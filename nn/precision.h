// The bf16 mixed-precision mode, decided in the modules (not in the ops), like PyTorch's autocast:
// while ActivationScope(DType::bf16) is active, layers keep their activations in bf16 (half the
// bytes through every kernel and in what backward keeps) and products run on bf16 tensor cores
// with f32 sums; parameters stay f32 (the master weights the optimizer updates) and are cast per
// use, the cast's backward returning f32 gradients. Statistics (norms, softmax, the loss) are f32
// inside the kernels. The TTT layers compute in f32 throughout (ttt/ttt_base.cpp). Outside a bf16
// scope nothing is cast, whatever the dtype (f64 models for gradchecks stay f64).
#pragma once
#include "core/dtype.h"
#include "core/tensor.h"
#include "nn/module.h"

namespace ttt::nn {

// Sets the activation dtype of the current thread (f32, the default: no casts; or bf16) until the
// scope ends.
class ActivationScope {
 public:
  explicit ActivationScope(DType dtype);
  ~ActivationScope();
  ActivationScope(const ActivationScope&) = delete;
  ActivationScope& operator=(const ActivationScope&) = delete;

 private:
  DType previous_;
};

// The activation dtype of the current thread.
DType activation_dtype();

// t cast (differentiably) to bf16 when the activation dtype is bf16 and t is f32; t otherwise.
Tensor autocast(const Tensor& t);
// A parameter p in the dtype of the activation x it meets (a norm's weight, a gate): cast when
// both are floating and differ, p otherwise.
Tensor like(const Tensor& p, const Tensor& x);

// Frozen weights in bf16 (trainable.frozen_dtype: bf16): every f32 parameter of root that does not
// require a gradient is stored in bf16 from now on (half the bytes; no gradient and no optimizer
// state either way). Modules that meet a bf16 weight in f32 activations run that product in bf16
// and return to f32 (Linear), or cast the small weight (norms) or the looked-up rows (Embedding).
// Returns the number of parameters converted.
int64_t store_frozen_in_bf16(Module& root);

}  // namespace ttt::nn
