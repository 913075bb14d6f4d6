// The compute layer on the meta device (shapes only) and on the CPU without autograd.
#include <gtest/gtest.h>

#include <cmath>
#include <utility>

#include "core/compute.h"
#include "core/error.h"
#include "core/half.h"
#include "core/rng.h"

namespace ttt {
namespace {

const Device meta = Device::meta();

TEST(MetaDevice, OpsComputeShapesOnly) {
  Tensor a = empty({8, 16, 4096, 128}, DType::f32, meta), b = empty({128, 512}, DType::f32, meta);
  Tensor c = compute::matmul(a, b);
  EXPECT_EQ(c.shape(), (Shape{8, 16, 4096, 512}));
  EXPECT_EQ(c.raw_data(), nullptr);
  EXPECT_EQ(compute::reduce(ReduceOp::sum, a, {1, 3}, false).shape(), (Shape{8, 4096}));
  EXPECT_EQ(compute::permute(a, {3, 2, 1, 0}).shape(), (Shape{128, 4096, 16, 8}));
  EXPECT_EQ(compute::binary(BinaryOp::add, a, empty({128}, DType::f32, meta)).shape(), a.shape());
  EXPECT_EQ(compute::cat({a, a}, 1).shape(), (Shape{8, 32, 4096, 128}));
  EXPECT_EQ(compute::softmax(a, SoftmaxArgs{}).shape(), a.shape());
  EXPECT_EQ(compute::layer_norm(a, Tensor(), Tensor(), 1e-5).mean.shape(), (Shape{8, 16, 4096}));
}

// Rounding to TF32's 10-bit and bf16's 7-bit mantissas: nearest, ties to even, NaN and infinity
// kept.
TEST(MatmulPrecision, MantissaRounding) {
  EXPECT_EQ(round_to_bf16(1.0f + 0x1p-8f), 1.0f);                // a tie: to the even mantissa
  EXPECT_EQ(round_to_bf16(1.0f + 3 * 0x1p-8f), 1.0f + 0x1p-6f);  // a tie: to the even mantissa (up)
  EXPECT_EQ(round_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 1.0f + 0x1p-7f);
  EXPECT_EQ(round_to_tf32(1.0f + 0x1p-11f), 1.0f);
  EXPECT_EQ(round_to_tf32(1.0f + 0x1p-11f + 0x1p-20f), 1.0f + 0x1p-10f);
  EXPECT_EQ(round_to_tf32(-2.5f), -2.5f);
  EXPECT_TRUE(std::isnan(round_to_bf16(std::nanf(""))));
  EXPECT_EQ(round_to_tf32(INFINITY), INFINITY);
  EXPECT_TRUE(std::isnan(round_to_tf32(std::nanf(""))));
}

// tf32 and bf16 products on the CPU are f32 products of the rounded operands (so a CPU run shows
// a mode's accuracy); f32 is exact again after switching back, and f64 products are never rounded.
TEST(MatmulPrecision, ReducedPrecisionRoundsTheOperandsOnTheCpu) {
  Generator gen(3);
  Tensor a = randn({2, 5, 7}, gen), b = randn({7, 3}, gen);
  const std::vector<float> exact = compute::matmul(a, b).to_vector<float>();
  for (auto [mode, round] :
       {std::pair{MatmulPrecision::tf32, &round_to_tf32}, std::pair{MatmulPrecision::bf16, &round_to_bf16}}) {
    std::vector<double> ra = a.to_vector<double>(), rb = b.to_vector<double>();
    for (double& v : ra) v = round(static_cast<float>(v));
    for (double& v : rb) v = round(static_cast<float>(v));
    const std::vector<float> want = compute::matmul(from_vector(ra, {2, 5, 7}), from_vector(rb, {7, 3})).to_vector<float>();
    compute::set_matmul_precision(mode);
    EXPECT_EQ(compute::matmul_precision(), mode);
    const std::vector<float> got = compute::matmul(a, b).to_vector<float>();
    const std::vector<double> got64 = compute::matmul(to_dtype(a, DType::f64), to_dtype(b, DType::f64)).to_vector<double>();
    compute::set_matmul_precision(MatmulPrecision::f32);
    EXPECT_EQ(got, want);
    EXPECT_NE(got, exact);
    for (size_t i = 0; i < exact.size(); ++i) EXPECT_NEAR(got64[i], exact[i], 1e-5 * (1 + std::abs(exact[i])));
  }
  EXPECT_EQ(compute::matmul(a, b).to_vector<float>(), exact);
}

TEST(MetaDevice, ShapeErrorsStillRaised) {
  Tensor a = empty({2, 3}, DType::f32, meta), b = empty({4, 5}, DType::f32, meta);
  EXPECT_THROW(compute::matmul(a, b), Error);
}

TEST(Compute, SumToUndoesBroadcast) {
  Tensor g = ones({2, 3, 4});
  EXPECT_EQ(compute::sum_to(g, {3, 1}).to_vector<float>(), std::vector<float>(3, 8.0f));
  EXPECT_EQ(compute::sum_to(g, {}).to_vector<float>(), std::vector<float>{24.0f});
}

TEST(Compute, NonContiguousReduceDims) {
  // x[i,j,k] = 100 i + 10 j + k, shape [2,3,2]; summing dims 0 and 2 leaves j
  std::vector<double> v;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 2; ++k) v.push_back(100 * i + 10 * j + k);
  Tensor x = from_vector(v, {2, 3, 2}, DType::f64);
  // for each j: sum_i sum_k = 2*(0+100) + 4*10j + 2*(0+1) ... = 202 + 40 j
  EXPECT_EQ(compute::reduce(ReduceOp::sum, x, {0, 2}, false).to_vector<double>(), (std::vector<double>{202, 242, 282}));
}

// Large element-wise loops run on every core (core/cpu/parallel.h): every element, the chunks'
// edges too, is what the loop on one thread gives.
TEST(Compute, LargeElementwiseLoopsAreSplitWithoutChangingAValue) {
  const int64_t n = (int64_t{1} << 20) + 777;
  Generator g(2);
  const Tensor x = randn({n}, g);
  const std::vector<float> xs = x.to_vector<float>();
  const std::vector<float> scaled = compute::unary(UnaryOp::affine, x, 3.0, 0.5).to_vector<float>();
  const Tensor half = to_dtype(x, DType::bf16);
  const std::vector<float> back = to_dtype(half, DType::f32).to_vector<float>();
  const Tensor filled = full({n}, 2.5);
  const std::vector<float> twos = filled.to_vector<float>();
  for (int64_t i = 0; i < n; i += 997) {
    const size_t k = static_cast<size_t>(i);
    EXPECT_EQ(scaled[k], xs[k] * 3.0f + 0.5f) << i;
    EXPECT_EQ(back[k], static_cast<float>(bf16(xs[k]))) << i;
    EXPECT_EQ(twos[k], 2.5f) << i;
  }
  EXPECT_EQ(scaled.back(), xs.back() * 3.0f + 0.5f);
  EXPECT_EQ(back.back(), static_cast<float>(bf16(xs.back())));
}

// c += op(a) op(b): the same values as c + matmul(a, b) with transposes, with a B shared by every
// batch entry (the product of stacked rows), and with an empty sum (k = 0 leaves c as it was);
// a c of another shape is refused.
TEST(Compute, MatmulAccumulateAddsTheProductToC) {
  Generator g(4);
  auto check = [&](const Tensor& a, const Tensor& b, bool ta, bool tb) {
    Tensor prod = compute::matmul(a, b, ta, tb);
    Tensor c = randn(prod.shape(), g, DType::f64);
    const std::vector<double> before = c.to_vector<double>(), p = prod.to_vector<double>();
    compute::matmul_accumulate(a, b, ta, tb, c);
    const std::vector<double> after = c.to_vector<double>();
    for (size_t i = 0; i < after.size(); ++i) EXPECT_NEAR(after[i], before[i] + p[i], 1e-13) << i;
  };
  check(randn({2, 3, 4}, g, DType::f64), randn({2, 4, 5}, g, DType::f64), false, false);
  check(randn({2, 4, 3}, g, DType::f64), randn({2, 5, 4}, g, DType::f64), true, true);
  check(randn({3, 2, 4}, g, DType::f64), randn({4, 5}, g, DType::f64), false, false);  // one B for all
  Tensor c = randn({2, 3}, g, DType::f64);
  const std::vector<double> before = c.to_vector<double>();
  compute::matmul_accumulate(empty({2, 0}, DType::f64), empty({0, 3}, DType::f64), false, false, c);
  EXPECT_EQ(c.to_vector<double>(), before);
  EXPECT_THROW(compute::matmul_accumulate(randn({2, 4}, g, DType::f64), randn({4, 3}, g, DType::f64), false, false,
                                          zeros({3, 2}, DType::f64)),
               Error);
}

// out += op(x, y) with broadcasting; a bf16 or misshapen out is refused.
TEST(Compute, BinaryAccumulateAddsTheResultToOut) {
  Generator g(5);
  Tensor x = randn({2, 3, 4}, g, DType::f64), col = randn({2, 3, 1}, g, DType::f64);
  Tensor out = randn({2, 3, 4}, g, DType::f64);
  const std::vector<double> before = out.to_vector<double>();
  const std::vector<double> term = compute::binary(BinaryOp::times_gelu_grad, col, x).to_vector<double>();
  compute::binary_accumulate(BinaryOp::times_gelu_grad, col, x, out);
  const std::vector<double> after = out.to_vector<double>();
  for (size_t i = 0; i < after.size(); ++i) EXPECT_DOUBLE_EQ(after[i], before[i] + term[i]) << i;
  EXPECT_THROW(compute::binary_accumulate(BinaryOp::mul, x, x, zeros({2, 3}, DType::f64)), Error);
  Tensor h = to_dtype(x, DType::bf16);
  EXPECT_THROW(compute::binary_accumulate(BinaryOp::mul, h, h, to_dtype(out, DType::bf16)), Error);
}

}  // namespace
}  // namespace ttt
