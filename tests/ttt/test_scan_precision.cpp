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

// fused false: the composed scan under run.matmul_precision; true: the fused scan's CPU executor
// under ttt.scan_precision, the reference for the tensor-core kernels
class ScanPrecision : public ::testing::TestWithParam<bool> {};

TEST_P(ScanPrecision, Tf32AndBf16ProductsStayWithinTheirBudgetAlong32MiniBatches) {
  const bool fused = GetParam();
  const int64_t n = 32, quarter = n / 4;
  for (const scan_precision::Case& c :
       {scan_precision::Case{"mlp", {32, 128, 32}, 16, 0.1}, scan_precision::Case{"multilayer", {32, 64, 64, 32}, 16, 0.1},
        scan_precision::Case{"linear", {32, 32}, 16, 1.0}}) {
    const scan_precision::Run ref = scan_precision::run(c, 1, n, 3, DType::f64, MatmulPrecision::f32);
    for (const Budget& budget : {Budget{MatmulPrecision::tf32, 0x1p-11}, Budget{MatmulPrecision::bf16, 0x1p-8}}) {
      const scan_precision::Run got = scan_precision::run(c, 1, n, 3, DType::f32, budget.precision, fused);
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

INSTANTIATE_TEST_SUITE_P(ComposedAndFused, ScanPrecision, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "fused" : "composed"; });

// The fused scan's rounding is its own (ScanOptions::precision), not the process's matmul precision,
// and f32 leaves it exact: with f32 its result is the plain fused scan's, bit for bit.
TEST(FusedScanPrecision, FollowsItsOwnSettingOnly) {
  const scan_precision::Case c{"mlp", {16, 32, 16}, 8, 0.1};
  const scan_precision::Run exact = scan_precision::run(c, 1, 8, 5, DType::f32, MatmulPrecision::f32, /*fused=*/true);
  compute::set_matmul_precision(MatmulPrecision::bf16);  // not the fused scan's business
  const scan_precision::Run still_exact = scan_precision::run(c, 1, 8, 5, DType::f32, MatmulPrecision::f32, true);
  compute::set_matmul_precision(MatmulPrecision::f32);
  EXPECT_EQ(relative_rms(still_exact.out, exact.out), 0.0);
  const scan_precision::Run tf32 = scan_precision::run(c, 1, 8, 5, DType::f32, MatmulPrecision::tf32, true);
  EXPECT_GT(relative_rms(tf32.out, exact.out), 1e-5);
}

}  // namespace
}  // namespace ttt
