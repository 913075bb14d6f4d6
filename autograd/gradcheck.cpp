#include "autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "autograd/ops.h"
#include "core/error.h"
#include "core/rng.h"

namespace ttt {

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions opt) {
  for (const Tensor& x : inputs)
    TTT_CHECK(!x.requires_grad() || (x.dtype() == DType::f64 && x.device().is_cpu()), "gradcheck",
              "checked inputs must be f64 on the cpu, got ", x.describe());
  // Analytic gradients of L = sum(f(x) * W).
  for (const Tensor& x : inputs)
    if (x.requires_grad()) x.autograd_meta()->grad = Tensor();
  Tensor out = fn(inputs);
  Generator gen(opt.seed);
  Tensor w = randn(out.shape(), gen, out.dtype(), out.device());
  auto loss_of = [&](const Tensor& y) { return sum(mul(y, w)).item<double>(); };
  backward(sum(mul(out, w)));

  GradcheckResult result;
  double worst_excess = -1;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (!x.requires_grad()) continue;
    Tensor g = x.grad();
    std::vector<double> analytic = g.defined() ? g.to_vector<double>() : std::vector<double>(x.numel(), 0.0);
    double* p = x.data<double>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double orig = p[i];
      double plus, minus;
      {
        NoGradGuard ng;
        p[i] = orig + opt.eps;
        plus = loss_of(fn(inputs));
        p[i] = orig - opt.eps;
        minus = loss_of(fn(inputs));
        p[i] = orig;
      }
      const double numeric = (plus - minus) / (2 * opt.eps);
      const double err = std::fabs(analytic[i] - numeric);
      const double allowed = opt.atol + opt.rtol * std::fabs(numeric);
      result.max_abs_error = std::max(result.max_abs_error, err);
      if (err - allowed > worst_excess) {
        worst_excess = err - allowed;
        std::ostringstream os;
        os << "input " << k << " (" << x.describe() << ") element " << i << ": analytic " << analytic[i] << ", numeric "
           << numeric << ", |diff| " << err << " (allowed " << allowed << ")";
        result.report = os.str();
      }
      if (err > allowed) result.ok = false;
    }
  }
  return result;
}

}  // namespace ttt
