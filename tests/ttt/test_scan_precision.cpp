// The error budget of tensor-core products in the TTT inner scan (bench/scan_precision.cpp prints
// the whole table; docs/performance.md states the budget and why). With operands rounded to TF32 or
// bf16 and f32 sums, the composed scan's output, final inner state and every input's gradient stay
// within a small multiple of the format's unit roundoff u (2^-11 for TF32, 2^-8 for bf16) of the f64
// reference, and the output's error does not grow along 32 mini-batches: each mini-batch's step is
// a correction towards its own targets, so earlier rounding is not amplified.
#include <gtest/gtest.h>

#include <algorithm>

#include "bench/scan_precision_study.h"

namespace ttt {
namespace {

using scan_precision::relative_rms;

struct Budget {
  MatmulPrecision precision;
  double u;  // unit roundoff of the operands' format
};

TEST(ScanPrecision, Tf32AndBf16ProductsStayWithinTheirBudgetAlong32MiniBatches) {
  const int64_t n = 32, quarter = n / 4;
  for (const scan_precision::Case& c :
       {scan_precision::Case{"mlp", {32, 128, 32}, 16, 0.1}, scan_precision::Case{"multilayer", {32, 64, 64, 32}, 16, 0.1},
        scan_precision::Case{"linear", {32, 32}, 16, 1.0}}) {
    const scan_precision::Run ref = scan_precision::run(c, 1, n, 3, DType::f64, MatmulPrecision::f32);
    for (const Budget& budget : {Budget{MatmulPrecision::tf32, 0x1p-11}, Budget{MatmulPrecision::bf16, 0x1p-8}}) {
      const scan_precision::Run got = scan_precision::run(c, 1, n, 3, DType::f32, budget.precision);
      const double u = budget.u;
      const double first = relative_rms(slice(got.out, 2, 0, quarter), slice(ref.out, 2, 0, quarter));
      const double last = relative_rms(slice(got.out, 2, n - quarter, n), slice(ref.out, 2, n - quarter, n));
      SCOPED_TRACE(std::string(c.name) + (budget.precision == MatmulPrecision::tf32 ? " tf32" : " bf16"));
      EXPECT_GT(first, 0.05 * u) << "the operands were not rounded";
      EXPECT_LT(first, 1.5 * u);
      EXPECT_LT(last, 1.5 * u);
      EXPECT_LT(last, 2 * first) << "the error grows along the sequence";
      for (size_t i = 0; i < ref.state.size(); ++i) EXPECT_LT(relative_rms(got.state[i], ref.state[i]), 1.5 * u) << i;
      for (size_t i = 0; i < ref.grads.size(); ++i) EXPECT_LT(relative_rms(got.grads[i], ref.grads[i]), 2.5 * u) << i;
    }
  }
}

}  // namespace
}  // namespace ttt
