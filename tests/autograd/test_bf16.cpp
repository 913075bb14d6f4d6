// bf16 tensors (DType::bf16: 16-bit storage, f32 arithmetic, one rounding per stored value).
// Storage and rounding first; then every op case of tests/op_cases.h run on bf16 inputs, against
// the same op in f64 on the same (bf16-exact) values: outputs and every input gradient must agree
// to bf16's precision.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/engine.h"
#include "core/compute.h"
#include "core/error.h"
#include "tests/op_cases.h"

namespace ttt::testing {
namespace {

TEST(Bf16, StoresRoundedToNearestEven) {
  // 1 + 2^-8 lies halfway between bf16's 1 and 1 + 2^-7: ties go to the even mantissa (1);
  // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6: it goes to 1 + 2^-6.
  Tensor t = from_vector({1 + std::ldexp(1.0, -8), 1 + 3 * std::ldexp(1.0, -8), 3.0e38, -0.0, 1e-40}, {5}, DType::bf16);
  EXPECT_EQ(t.dtype(), DType::bf16);
  EXPECT_EQ(t.storage()->bytes(), 10u);
  std::vector<double> v = t.to_vector<double>();
  EXPECT_EQ(v[0], 1.0);
  EXPECT_EQ(v[1], 1 + std::ldexp(1.0, -6));
  EXPECT_NEAR(v[2], 3.0e38, 3.0e38 / 128);  // bf16 keeps f32's range
  EXPECT_TRUE(v[3] == 0 && std::signbit(v[3]));
  EXPECT_GT(v[4], 0);  // subnormals survive the round trip through f32
  Tensor special = from_vector({INFINITY, -INFINITY, NAN}, {3}, DType::bf16);
  std::vector<float> s = special.to_vector<float>();
  EXPECT_TRUE(std::isinf(s[0]) && s[0] > 0 && std::isinf(s[1]) && s[1] < 0 && std::isnan(s[2]));
}

TEST(Bf16, CastIsDifferentiableAndGivesTheGradientInTheSourceDtype) {
  Tensor x = from_vector({0.1, -2.5, 3.0}, {3}, DType::f32).set_requires_grad(true);
  Tensor y = cast(x, DType::bf16);
  EXPECT_EQ(y.dtype(), DType::bf16);
  EXPECT_TRUE(cast(y, DType::bf16).is_same(y));  // the same dtype: no new node
  backward(sum(mul(y, from_vector({1, 2, 3}, {3}, DType::bf16))));
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().dtype(), DType::f32);
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{1, 2, 3}));
  EXPECT_THROW(cast(from_vector({1}, {1}, DType::i64), DType::bf16), Error);
}

TEST(Bf16, StatisticsOfBf16InputsAreF32) {
  Tensor x = from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::bf16);
  Tensor w = ones({3}, DType::bf16);
  compute::RmsNormOut r = compute::rms_norm(x, w, 1e-6);
  EXPECT_EQ(r.y.dtype(), DType::bf16);
  EXPECT_EQ(r.rstd.dtype(), DType::f32);
  EXPECT_NEAR(r.rstd.to_vector<double>()[0], 1 / std::sqrt(14.0 / 3), 1e-6);  // f32, not bf16, precision
  Tensor loss = cross_entropy(x, from_vector({0, 2}, {2}, DType::i64));
  EXPECT_EQ(loss.dtype(), DType::f32);
}

// A product of bf16 operands may write an f32 C (the attention's scores); any other mix is refused.
TEST(Bf16, MatmulRegionWritesBf16OrF32) {
  Tensor a = from_vector({1, 2, 3, 4}, {2, 2}, DType::bf16), b = from_vector({1, 0, 0, 1}, {2, 2}, DType::bf16);
  MatmulArgs g;
  g.m = g.n = g.k = 2;
  Tensor c32 = zeros({2, 2}, DType::f32);
  compute::matmul_region(a, b, c32, g);
  EXPECT_EQ(c32.to_vector<double>(), (std::vector<double>{1, 2, 3, 4}));
  Tensor c16 = zeros({2, 2}, DType::bf16);
  compute::matmul_region(a, b, c16, g);
  EXPECT_EQ(c16.to_vector<double>(), (std::vector<double>{1, 2, 3, 4}));
  EXPECT_THROW(compute::matmul_region(to_dtype(a, DType::f32), to_dtype(b, DType::f32), c16, g), Error);
}

// max |a - b| / max(max |b|, 1): one relative figure per tensor.
double rel_error(const Tensor& a, const Tensor& b) {
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  EXPECT_EQ(x.size(), y.size());
  double diff = 0, scale = 1;
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) != std::isnan(y[i])) return INFINITY;
    if (!std::isnan(x[i])) diff = std::max(diff, std::fabs(x[i] - y[i]));
    scale = std::max(scale, std::fabs(y[i]));
  }
  return diff / scale;
}

struct OpRun {
  Tensor out;
  std::vector<Tensor> grads;
};

// The case on `dtype` inputs holding the given (bf16-exact) values, and the gradients of
// <out, upstream> for an upstream of bf16-exact random values (the same for both dtypes).
OpRun run_in(const OpCase& op, const std::vector<Tensor>& values, DType dtype) {
  std::vector<Tensor> inputs;
  for (const Tensor& v : values) inputs.push_back(to_dtype(v, dtype).set_requires_grad(true));
  OpRun r;
  r.out = op.fn(inputs);
  Generator gen(11);
  Tensor upstream = to_dtype(to_dtype(randn(r.out.shape(), gen), DType::bf16), r.out.dtype());
  backward(sum(mul(r.out, upstream)));
  for (const Tensor& x : inputs) r.grads.push_back(x.grad());
  return r;
}

class Bf16Op : public ::testing::TestWithParam<OpCase> {};

// bf16 keeps 8 significant bits (relative rounding 2^-9 = 0.2%); an op composed of several rounded
// steps (var, softmax through exp and sums) loses a few more. 3% of the largest value catches a
// wrong formula or a long sum accumulated in bf16, not rounding.
TEST_P(Bf16Op, MatchesF64OnTheSameValues) {
  const OpCase& op = GetParam();
  Generator gen(7);
  std::vector<Tensor> values;
  for (const Shape& s : op.shapes)
    values.push_back(to_dtype(make_input(s, op.domain, DType::bf16, Device::cpu(), gen), DType::f64));
  OpRun exact = run_in(op, values, DType::f64), half = run_in(op, values, DType::bf16);
  const bool loss = op.name == "cross_entropy" || op.name == "cross_entropy_rows";
  EXPECT_EQ(half.out.dtype(), loss ? DType::f32 : DType::bf16) << op.name;  // a loss is f32
  EXPECT_LE(rel_error(half.out, exact.out), 3e-2) << op.name << " forward";
  for (size_t i = 0; i < exact.grads.size(); ++i) {
    ASSERT_EQ(half.grads[i].defined(), exact.grads[i].defined()) << op.name << " grad " << i;
    if (!exact.grads[i].defined()) continue;
    EXPECT_EQ(half.grads[i].dtype(), DType::bf16) << op.name << " grad of input " << i;
    EXPECT_LE(rel_error(half.grads[i], exact.grads[i]), 3e-2) << op.name << " grad of input " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(AllOps, Bf16Op, ::testing::ValuesIn(op_cases()), [](const auto& p) { return p.param.name; });

}  // namespace
}  // namespace ttt::testing
