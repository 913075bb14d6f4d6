// The profiler on a GPU: kernels are charged to the module and backward regions they ran in, and
// the report's busy time is the sum of what was timed. Skipped without a GPU.
#include <gtest/gtest.h>

#include <sstream>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "core/profile.h"
#include "nn/layers.h"

namespace ttt {
namespace {

TEST(CudaProfile, ChargesKernelsToForwardAndBackwardRegions) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU visible";
  profile::set_enabled(true);
  profile::reset();
  Generator gen(5);
  nn::Linear linear(64, 32, true, gen, Device::cuda());
  Tensor x = ones({16, 64}, DType::f32, Device::cuda());
  Tensor loss = sum(linear.forward(x));
  backward(loss);
  std::ostringstream os;
  profile::report(os, 1, std::chrono::steady_clock::now());
  profile::set_enabled(false);
  const std::string text = os.str();
  SCOPED_TRACE(text);
  EXPECT_NE(text.find("Linear | matmul"), std::string::npos);             // the forward product
  EXPECT_NE(text.find("backward > Linear > matmul | matmul"), std::string::npos);  // its gradient
  EXPECT_NE(text.find("GPU busy"), std::string::npos);
  std::ostringstream again;  // report() forgets what it printed
  profile::report(again, 1, std::chrono::steady_clock::now());
  EXPECT_NE(again.str().find("no CUDA kernel was timed"), std::string::npos);
}

}  // namespace
}  // namespace ttt
