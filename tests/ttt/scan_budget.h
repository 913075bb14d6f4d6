// The error budget of a scan with TF32 / bf16 products (docs/performance.md, "Tensor-core scans:
// the error budget"), one definition for the CPU executor's test (tests/ttt/test_scan_precision.cpp)
// and the tensor-core kernels' (tests/cuda/test_cuda_fused_scan.cpp). With u the unit roundoff of
// the operands' format, against the f64 reference: the output over the first and the last quarter
// of the mini-batches and the final state within 1.5 u relative RMS, every gradient within 2.5 u,
// the last quarter's output error under twice the first's (it does not grow along the sequence),
// and the first's above 0.05 u (the operands were rounded at all).
#pragma once
#include <gtest/gtest.h>

#include "bench/scan_precision_study.h"

namespace ttt::testing {

struct ScanBudget {
  MatmulPrecision precision;
  double u;  // unit roundoff of the operands' format
};

inline const ScanBudget kScanBudgets[] = {{MatmulPrecision::tf32, 0x1p-11}, {MatmulPrecision::bf16, 0x1p-8}};

// `got` and `ref` from scan_precision::run over n mini-batches.
inline void expect_within_budget(const scan_precision::Run& got, const scan_precision::Run& ref, int64_t n, double u) {
  using scan_precision::relative_rms;
  const int64_t quarter = n / 4;
  const double first = relative_rms(slice(got.out, 2, 0, quarter), slice(ref.out, 2, 0, quarter));
  const double last = relative_rms(slice(got.out, 2, n - quarter, n), slice(ref.out, 2, n - quarter, n));
  EXPECT_GT(first, 0.05 * u) << "the operands were not rounded";
  EXPECT_LT(first, 1.5 * u);
  EXPECT_LT(last, 1.5 * u);
  EXPECT_LT(last, 2 * first) << "the error grows along the sequence";
  for (size_t i = 0; i < ref.state.size(); ++i) EXPECT_LT(relative_rms(got.state[i], ref.state[i]), 1.5 * u) << "state " << i;
  for (size_t i = 0; i < ref.grads.size(); ++i) EXPECT_LT(relative_rms(got.grads[i], ref.grads[i]), 2.5 * u) << "gradient " << i;
}

}  // namespace ttt::testing
