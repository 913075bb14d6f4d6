// Finite-difference gradient check: the proof that an op's backward matches its forward.
// For f: inputs -> output, it compares the analytic gradient of L = sum(f(inputs) * W) (W a fixed
// random tensor, so every output element matters with a different weight) against central
// differences (L(x + eps) - L(x - eps)) / 2 eps, element by element, in f64 on the CPU.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace ttt {

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0;  // over all checked elements
  std::string report;        // the worst element, or the first failure, in words
};

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-6;  // pass when |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-5;
  uint64_t seed = 1234;
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

// Inputs must be f64 CPU tensors; those with requires_grad are checked.
GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions opt = {});

}  // namespace ttt
