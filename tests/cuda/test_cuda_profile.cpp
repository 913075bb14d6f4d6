// The profiler on a GPU: kernels, timed by CUDA events, are charged to the module and backward
// regions they ran in (tests/profile_case.h). Skipped without a GPU.
#include "tests/profile_case.h"

namespace ttt::testing {
namespace {

TEST(CudaProfile, ChargesKernelsToForwardAndBackwardRegions) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU visible";
  expect_profile_of_a_linear_step(Device::cuda());
}

}  // namespace
}  // namespace ttt::testing
