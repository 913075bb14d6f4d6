// The CUDA suites run everywhere; without a visible GPU each test skips with this message.
#pragma once
#include <gtest/gtest.h>

#include "core/device.h"

#define SKIP_WITHOUT_GPU() \
  if (!::ttt::cuda_available()) GTEST_SKIP() << "no CUDA GPU visible: skipped (run the CUDA tests on the device machine)"
