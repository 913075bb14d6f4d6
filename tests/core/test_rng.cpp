// The counter-based generator: reproducible, offset-addressable, and statistically sane.
#include <gtest/gtest.h>

#include <cmath>

#include "core/rng.h"

namespace ttt {
namespace {

TEST(Rng, SameSeedSameNumbers) {
  Generator a(7), b(7), c(8);
  EXPECT_EQ(randn({100}, a).to_vector<float>(), randn({100}, b).to_vector<float>());
  Generator a2(7);
  EXPECT_NE(randn({100}, a2).to_vector<float>(), randn({100}, c).to_vector<float>());
}

TEST(Rng, GeneratorAdvancesAndIsOffsetAddressable) {
  Generator g(3);
  std::vector<double> first = randn({10}, g, DType::f64).to_vector<double>();
  EXPECT_EQ(g.offset(), 10u);
  Generator h(3, 5);  // start at counter 5: the second half of the same stream
  std::vector<double> tail = randn({5}, h, DType::f64).to_vector<double>();
  EXPECT_EQ(std::vector<double>(first.begin() + 5, first.end()), tail);
}

TEST(Rng, NormalAndUniformMoments) {
  Generator g(11);
  std::vector<double> n = randn({200000}, g, DType::f64).to_vector<double>();
  double m = 0, v = 0;
  for (double x : n) m += x;
  m /= n.size();
  for (double x : n) v += (x - m) * (x - m);
  v /= n.size();
  EXPECT_NEAR(m, 0.0, 0.01);
  EXPECT_NEAR(v, 1.0, 0.01);
  std::vector<double> u = rand({200000}, g, DType::f64).to_vector<double>();
  double mu = 0;
  for (double x : u) {
    ASSERT_GE(x, 0.0);
    ASSERT_LT(x, 1.0);
    mu += x;
  }
  EXPECT_NEAR(mu / u.size(), 0.5, 0.005);
}

}  // namespace
}  // namespace ttt
