// The fused row norms of the TTT layer (l2_normalize, unbiased_head_norm, and E10's ln_l2_grad)
// against their definitions written as composed ops (docs/spec/TTT_SPEC.md E1a, E2a, E10), in f64:
// values and every input's gradient.
// test_gradcheck_ops.cpp checks their gradients against finite differences too.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "core/rng.h"

namespace ttt {
namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

struct Result {
  std::vector<double> y;
  std::vector<std::vector<double>> grads;
};

// f(inputs) and the gradients of <f(inputs), upstream> for every input.
Result run(const Fn& f, const std::vector<Tensor>& inputs, const Tensor& upstream) {
  std::vector<Tensor> leaves;
  for (const Tensor& t : inputs) leaves.push_back(t.detach().set_requires_grad(true));
  Tensor y = f(leaves);
  backward(sum(mul(y, upstream)));
  Result r{y.to_vector<double>(), {}};
  for (const Tensor& l : leaves) r.grads.push_back(l.grad().to_vector<double>());
  return r;
}

void expect_same(const Result& a, const Result& b, double tol) {
  ASSERT_EQ(a.y.size(), b.y.size());
  for (size_t i = 0; i < a.y.size(); ++i) ASSERT_NEAR(a.y[i], b.y[i], tol) << "output element " << i;
  ASSERT_EQ(a.grads.size(), b.grads.size());
  for (size_t k = 0; k < a.grads.size(); ++k)
    for (size_t i = 0; i < a.grads[k].size(); ++i)
      ASSERT_NEAR(a.grads[k][i], b.grads[k][i], tol) << "gradient of input " << k << ", element " << i;
}

// E1a as PyTorch's F.normalize writes it: x / max(||x||, eps).
Tensor composed_l2_normalize(const Tensor& x, double eps) {
  Tensor norm = sqrt(sum(square(x), {-1}, true));
  return div(x, maximum(norm, full({}, eps, x.dtype(), x.device())));
}

// E2a's LayerNorm as the spec states it: mean and unbiased std over d, eps added to the std, then
// the head's weight and bias.
Tensor composed_unbiased_head_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  const int64_t H = w.size(0), d = w.size(1);
  Tensor centered = sub(x, mean(x, {-1}, true));
  Tensor zn = div(centered, sqrt(var(x, {-1}, true, /*unbiased=*/true)) + eps);
  return add(mul(zn, reshape(w, {1, H, 1, d})), reshape(b, {1, H, 1, d}));
}

TEST(RowNorms, L2NormalizeMatchesItsDefinition) {
  Generator gen(3);
  Tensor x = randn({2, 3, 5, 7}, gen, DType::f64), g = randn({2, 3, 5, 7}, gen, DType::f64);
  const Fn fused = [](const std::vector<Tensor>& v) { return l2_normalize(v[0]); };
  const Fn composed = [](const std::vector<Tensor>& v) { return composed_l2_normalize(v[0], 1e-12); };
  expect_same(run(fused, {x}, g), run(composed, {x}, g), 1e-13);
}

// A row whose norm is below eps is x / eps, and its gradient g / eps: the composed form agrees on a
// tiny row; on a zero row its sqrt's backward gives 0 * inf = NaN, the fused op g / eps.
TEST(RowNorms, L2NormalizeClampsTinyRows) {
  const double eps = 1e-3;
  Tensor x = from_vector({3e-5, -4e-5, 1, 2}, {2, 2}, DType::f64);
  Tensor g = from_vector({1, 2, 5, 6}, {2, 2}, DType::f64);
  const Fn fused = [&](const std::vector<Tensor>& v) { return l2_normalize(v[0], -1, eps); };
  const Fn composed = [&](const std::vector<Tensor>& v) { return composed_l2_normalize(v[0], eps); };
  const Result a = run(fused, {x}, g);
  expect_same(a, run(composed, {x}, g), 1e-12);
  EXPECT_NEAR(a.y[0], 3e-2, 1e-15);
  EXPECT_NEAR(a.grads[0][0], 1 / eps, 1e-9);
  const Result zero = run(fused, {zeros({1, 3}, DType::f64)}, from_vector({1, 2, 3}, {1, 3}, DType::f64));
  EXPECT_EQ(zero.y, (std::vector<double>{0, 0, 0}));
  EXPECT_NEAR(zero.grads[0][2], 3 / eps, 1e-9);
}

TEST(RowNorms, UnbiasedHeadNormMatchesItsDefinition) {
  Generator gen(4);
  Tensor x = randn({2, 3, 5, 7}, gen, DType::f64), g = randn({2, 3, 5, 7}, gen, DType::f64);
  Tensor w = randn({3, 7}, gen, DType::f64), b = randn({3, 7}, gen, DType::f64);
  const Fn fused = [](const std::vector<Tensor>& v) { return unbiased_head_norm(v[0], v[1], v[2], 1e-8); };
  const Fn composed = [](const std::vector<Tensor>& v) { return composed_unbiased_head_norm(v[0], v[1], v[2], 1e-8); };
  expect_same(run(fused, {x, w, b}, g), run(composed, {x, w, b}, g), 1e-12);
}

// A constant row has std 0: y = b and the gradient stays finite, (g w - mean(g w)) / eps (the
// composed form divides 0 by 0 in sqrt's backward there).
TEST(RowNorms, UnbiasedHeadNormOfAConstantRowHasAFiniteGradient) {
  Tensor x = from_vector({2, 2, 2, 1, 2, 3}, {1, 1, 2, 3}, DType::f64);
  Tensor w = from_vector({1, 2, 3}, {1, 3}, DType::f64), b = from_vector({0.5, 0, -0.5}, {1, 3}, DType::f64);
  Tensor g = from_vector({1, 0, 0, 0, 0, 0}, {1, 1, 2, 3}, DType::f64);
  const double eps = 1e-3;
  const Fn fused = [&](const std::vector<Tensor>& v) { return unbiased_head_norm(v[0], v[1], v[2], eps); };
  const Result r = run(fused, {x, w, b}, g);
  EXPECT_NEAR(r.y[0], 0.5, 1e-15);
  EXPECT_NEAR(r.y[2], -0.5, 1e-15);
  EXPECT_NEAR(r.grads[0][0], (1 - 1.0 / 3) / eps, 1e-9);  // gh = (1, 0, 0)
  EXPECT_NEAR(r.grads[0][1], (0 - 1.0 / 3) / eps, 1e-9);
  EXPECT_NEAR(r.y[3], -1 / (1 + eps) * 1 + 0.5, 1e-12);  // row 2: mean 2, unbiased std 1
}

// A frozen weight: the backward skips the weight's term; x's and the bias's gradients are unchanged.
TEST(RowNorms, UnbiasedHeadNormWithAFrozenWeightGivesTheSameOtherGradients) {
  Generator gen(5);
  Tensor x = randn({2, 3, 5, 7}, gen, DType::f64), g = randn({2, 3, 5, 7}, gen, DType::f64);
  Tensor w = randn({3, 7}, gen, DType::f64), b = randn({3, 7}, gen, DType::f64);
  const Fn all = [](const std::vector<Tensor>& v) { return unbiased_head_norm(v[0], v[1], v[2], 1e-8); };
  const Fn frozen = [](const std::vector<Tensor>& v) { return unbiased_head_norm(v[0], v[1].detach(), v[2], 1e-8); };
  const Result a = run(all, {x, w, b}, g);
  std::vector<Tensor> leaves{x.detach().set_requires_grad(true), w, b.detach().set_requires_grad(true)};
  Tensor y = frozen(leaves);
  backward(sum(mul(y, g)));
  EXPECT_EQ(y.to_vector<double>(), a.y);
  EXPECT_EQ(leaves[0].grad().to_vector<double>(), a.grads[0]);
  EXPECT_EQ(leaves[2].grad().to_vector<double>(), a.grads[2]);
  EXPECT_FALSE(leaves[1].grad().defined());
}

// E10 as the spec writes it, in explicit ops: mu, sigma = mean, sqrt(var + eps); xhat = (z - mu) / sigma;
// gy = (w xhat + b - target) w; grad_z = (D gy - sum(gy) - xhat sum(gy xhat)) / (D sigma).
Tensor composed_ln_l2_grad(const Tensor& z, const Tensor& target, const Tensor& w, const Tensor& b, double eps) {
  const int64_t H = w.size(0), D = w.size(1);
  Tensor gamma = reshape(w, {1, H, 1, D}), beta = reshape(b, {1, H, 1, D});
  Tensor centered = sub(z, mean(z, {-1}, true));
  Tensor sigma = sqrt(mean(square(centered), {-1}, true) + eps);
  Tensor xhat = div(centered, sigma);
  Tensor gy = mul(sub(add(mul(gamma, xhat), beta), target), gamma);
  Tensor numer = sub(sub(gy * static_cast<double>(D), sum(gy, {-1}, true)), mul(xhat, sum(mul(gy, xhat), {-1}, true)));
  return div(numer, sigma * static_cast<double>(D));
}

TEST(RowNorms, LnL2GradMatchesItsDefinition) {
  Generator gen(6);
  Tensor z = randn({2, 3, 5, 7}, gen, DType::f64), t = randn({2, 3, 5, 7}, gen, DType::f64);
  Tensor w = randn({3, 7}, gen, DType::f64), b = randn({3, 7}, gen, DType::f64), g = randn({2, 3, 5, 7}, gen, DType::f64);
  const Fn fused = [](const std::vector<Tensor>& v) { return ln_l2_grad(v[0], v[1], v[2], v[3], 1e-6); };
  const Fn composed = [](const std::vector<Tensor>& v) { return composed_ln_l2_grad(v[0], v[1], v[2], v[3], 1e-6); };
  expect_same(run(fused, {z, t, w, b}, g), run(composed, {z, t, w, b}, g), 1e-11);
}

// Inputs that need no gradient get none, and the others' are unchanged.
TEST(RowNorms, LnL2GradGivesOnlyTheGradientsAsked) {
  Generator gen(7);
  Tensor z = randn({1, 2, 4, 6}, gen, DType::f64), t = randn({1, 2, 4, 6}, gen, DType::f64);
  Tensor w = randn({2, 6}, gen, DType::f64), b = randn({2, 6}, gen, DType::f64), g = randn({1, 2, 4, 6}, gen, DType::f64);
  const Result all = run([](const std::vector<Tensor>& v) { return ln_l2_grad(v[0], v[1], v[2], v[3], 1e-6); }, {z, t, w, b}, g);
  Tensor zl = z.detach().set_requires_grad(true);
  backward(sum(mul(ln_l2_grad(zl, t, w, b, 1e-6), g)));
  EXPECT_EQ(zl.grad().to_vector<double>(), all.grads[0]);
}

TEST(RowNorms, LnL2GradRefusesAMismatchedWeight) {
  Tensor z = zeros({2, 3, 4, 5}, DType::f64);
  try {
    ln_l2_grad(z, z, zeros({3, 4}, DType::f64), zeros({3, 5}, DType::f64), 1e-6);
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("[H, d] = [3, 5]"), std::string::npos) << e.what();
  }
}

TEST(RowNorms, UnbiasedHeadNormRefusesAMismatchedWeight) {
  Tensor x = zeros({2, 3, 4, 5}, DType::f64);
  try {
    unbiased_head_norm(x, zeros({4, 5}, DType::f64), zeros({3, 5}, DType::f64));
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("[H, d] = [3, 5]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ttt
