// The counter-based generator: reproducible, offset-addressable, and statistically sane.
#include <gtest/gtest.h>

#include <cmath>

#include "core/philox.h"
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

// A large fill is split over the cores (core/cpu/parallel.h): element i is still draw offset + i,
// at the chunks' edges as anywhere, and a slice regenerated alone gives the same numbers.
TEST(Rng, ALargeFillIsTheStreamWhateverTheSplit) {
  const int64_t n = (int64_t{1} << 20) + 12345;
  Generator g(5, 100);
  const std::vector<double> all = randn({n}, g, DType::f64).to_vector<double>();
  for (int64_t i : {int64_t{0}, int64_t{1} << 16, (int64_t{1} << 16) + 1, n / 2, n / 3 + 1, n - 1})
    EXPECT_EQ(all[static_cast<size_t>(i)], philox::normal(100 + static_cast<uint64_t>(i), 5)) << i;
  Generator part(5, 100 + static_cast<uint64_t>(n / 3));
  const std::vector<double> slice = randn({1000}, part, DType::f64).to_vector<double>();
  EXPECT_EQ(slice, std::vector<double>(all.begin() + n / 3, all.begin() + n / 3 + 1000));
  Generator u(6);
  const std::vector<double> uniform = rand({n}, u, DType::f64).to_vector<double>();
  EXPECT_EQ(uniform[static_cast<size_t>(n - 1)], philox::uniform(static_cast<uint64_t>(n - 1), 6));
}

}  // namespace
}  // namespace ttt
