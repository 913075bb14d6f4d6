// The error budget of tensor-core products in the TTT inner scan (bench/scan_precision.cpp prints
// the whole table; docs/performance.md states the budget and why). With operands rounded to TF32 or
// bf16 and f32 sums, the composed scan's output, final inner state and every input's gradient stay
// within a small multiple of the format's unit roundoff u (2^-11 for TF32, 2^-8 for bf16) of the f64
// reference, and the output's error does not grow along 32 mini-batches: each mini-batch's step is
// a correction towards its own targets, so earlier rounding is not amplified.
#include <gtest/gtest.h>

#include <algorithm>

#include "bench/scan_precision_study.h"
#include "tests/ttt/scan_budget.h"

namespace ttt {
namespace {

using scan_precision::relative_rms;

// fused false: the composed scan under run.matmul_precision; true: the fused scan's CPU executor
// under ttt.scan_precision, the reference for the tensor-core kernels
class ScanPrecision : public ::testing::TestWithParam<bool> {};

TEST_P(ScanPrecision, Tf32AndBf16ProductsStayWithinTheirBudgetAlong32MiniBatches) {
  const bool fused = GetParam();
  const int64_t n = 32;
  for (const scan_precision::Case& c :
       {scan_precision::Case{"mlp", {32, 128, 32}, 16, 0.1}, scan_precision::Case{"multilayer", {32, 64, 64, 32}, 16, 0.1},
        scan_precision::Case{"linear", {32, 32}, 16, 1.0}}) {
    const scan_precision::Run ref = scan_precision::run(c, 1, n, 3, DType::f64, MatmulPrecision::f32);
    for (const testing::ScanBudget& budget : testing::kScanBudgets) {
      SCOPED_TRACE(std::string(c.name) + " " + enum_name(budget.precision));
      const scan_precision::Run got = scan_precision::run(c, 1, n, 3, DType::f32, budget.precision, fused);
      testing::expect_within_budget(got, ref, n, budget.u);
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
