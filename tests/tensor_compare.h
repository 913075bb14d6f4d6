// How tests compare two tensors: one figure per pair, element by element on the host.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/tensor.h"

namespace ttt::testing {

// max |a - b| over all elements.
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  EXPECT_EQ(x.size(), y.size());
  double m = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) m = std::max(m, std::fabs(x[i] - y[i]));
  return m;
}

// max |ours - ref| / max |ref|: relative to the reference's scale; infinite when ours is not finite.
inline double relative_error(const Tensor& ours, const Tensor& ref) {
  const auto a = ours.to_vector<double>(), b = ref.to_vector<double>();
  EXPECT_EQ(a.size(), b.size());
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    diff = std::max(diff, std::fabs(a[i] - b[i]));
    scale = std::max(scale, std::fabs(b[i]));
  }
  return diff / scale;
}

}  // namespace ttt::testing
