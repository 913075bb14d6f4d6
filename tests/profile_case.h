// One profiled forward+backward of a Linear layer on `device`, and the checks that the report
// charges its kernels to the right regions (used by the CPU test in test_nn and the CUDA test).
#pragma once
#include <gtest/gtest.h>

#include <cstdio>
#include <sstream>
#include <string>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "core/profile.h"
#include "nn/layers.h"

namespace ttt::testing {

inline void expect_profile_of_a_linear_step(Device device) {
  profile::set_enabled(true);
  profile::reset();
  const auto start = std::chrono::steady_clock::now();
  Generator gen(5);
  nn::Linear linear(64, 32, true, gen, device);
  Tensor x = ones({16, 64}, DType::f32, device);
  backward(sum(linear.forward(x)));
  std::ostringstream os;
  profile::report(os, 1, start);
  profile::set_enabled(false);
  const std::string text = os.str();
  SCOPED_TRACE(text);
  EXPECT_NE(text.find("Linear | matmul"), std::string::npos);                      // the forward product
  EXPECT_NE(text.find("backward > Linear > matmul | matmul"), std::string::npos);  // its gradient
  double wall = -1, busy = -1;
  ASSERT_EQ(std::sscanf(text.c_str(), "profile over 1 steps: wall %lf ms/step, kernels busy %lf", &wall, &busy), 2);
  EXPECT_GT(busy, 0.0);
  EXPECT_LE(busy, wall);     // kernels ran inside the measured wall time
  std::ostringstream again;  // report() forgets what it printed
  profile::report(again, 1, std::chrono::steady_clock::now());
  EXPECT_NE(again.str().find("no kernel was timed"), std::string::npos);
}

}  // namespace ttt::testing
