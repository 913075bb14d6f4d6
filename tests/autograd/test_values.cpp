// Forward values against results computed by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "core/compute.h"
#include "core/error.h"
#include "core/rng.h"

namespace ttt {
namespace {

std::vector<double> vals(const Tensor& t) { return t.to_vector<double>(); }
Tensor t64(std::vector<double> v, Shape s) { return from_vector(v, s, DType::f64); }

void expect_near(const std::vector<double>& a, const std::vector<double>& b, double tol = 1e-9) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], tol) << "element " << i;
}

TEST(Values, BroadcastAdd) {
  expect_near(vals(add(t64({1, 2, 3, 4, 5, 6}, {2, 3}), t64({10, 20}, {2, 1}))), {11, 12, 13, 24, 25, 26});
}

TEST(Values, Matmul2x2AndTransposes) {
  Tensor a = t64({1, 2, 3, 4}, {2, 2}), b = t64({5, 6, 7, 8}, {2, 2});
  expect_near(vals(matmul(a, b)), {19, 22, 43, 50});
  expect_near(vals(matmul(a, b, true, false)), {26, 30, 38, 44});  // a^T b
  expect_near(vals(matmul(a, b, false, true)), {17, 23, 39, 53});  // a b^T
}

TEST(Values, Reductions) {
  Tensor x = t64({1, 5, 3, 4, 2, 6}, {2, 3});
  expect_near(vals(sum(x, {1})), {9, 12});
  expect_near(vals(sum(x, {0}, true)), {5, 7, 9});
  expect_near(vals(max(x, {1})), {5, 6});
  expect_near(vals(mean(x)), {3.5});
  expect_near(vals(var(t64({1, 2, 3, 4}, {4}))), {5.0 / 3.0});
  EXPECT_EQ(sum(x, {1}, true).shape(), (Shape{2, 1}));
}

TEST(Values, SoftmaxAndLogSoftmax) {
  Tensor x = t64({0, std::log(2.0)}, {1, 2});
  expect_near(vals(softmax(x)), {1.0 / 3, 2.0 / 3});
  expect_near(vals(log_softmax(x)), {std::log(1.0 / 3), std::log(2.0 / 3)});
}

// The fused attention softmax equals softmax(scale * x + mask) with the -1e9 additive mask it
// replaces, in values and gradients, for each kind of mask.
TEST(Values, AttentionSoftmaxIsTheScaledSoftmaxWithAnAdditiveMask) {
  const int64_t S = 7;
  struct Kind {
    bool causal;
    int64_t context;
  };
  for (Kind k : {Kind{true, 0}, Kind{true, 3}, Kind{false, 3}, Kind{false, 0}}) {
    SCOPED_TRACE(testing::Message() << "causal " << k.causal << " context " << k.context);
    std::vector<double> m(S * S, 0.0);
    for (int64_t i = 0; i < S; ++i)
      for (int64_t j = 0; j < S; ++j) {
        const bool blocked = (k.causal && j > i) || (k.context > 0 && (i - j >= k.context || (!k.causal && j - i >= k.context)));
        m[i * S + j] = blocked ? -1e9 : 0.0;
      }
    Generator gen(11);
    Tensor x1 = randn({2, S, S}, gen, DType::f64).set_requires_grad(true);
    Tensor x2 = clone_data(x1.detach()).set_requires_grad(true);
    Tensor w = randn({2, S, S}, gen, DType::f64);
    Tensor fused = attention_softmax(x1, 0.6, k.causal, k.context);
    Tensor composed = softmax(add(mul(x2, scalar_tensor(0.6, DType::f64)), t64(m, {S, S})));
    expect_near(vals(fused), vals(composed), 1e-14);
    backward(sum(mul(fused, w)));
    backward(sum(mul(composed, w)));
    expect_near(vals(x1.grad()), vals(x2.grad()), 1e-14);
  }
}

// The blocked entries of a masked softmax get no gradient even when the incoming gradient there is
// not finite (the attention op leaves those entries of its dP scratch unwritten).
TEST(Values, AttentionSoftmaxIgnoresTheGradientOfBlockedEntries) {
  Generator gen(12);
  SoftmaxArgs args;
  args.scale = 0.8, args.queries = 4, args.causal = true;
  Tensor y = compute::softmax(randn({1, 4, 4}, gen, DType::f64), args);
  std::vector<double> clean(16), dirty(16);
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 4; ++j) {
      clean[i * 4 + j] = j > i ? 0.0 : 1.0 + i - 0.5 * j;
      dirty[i * 4 + j] = j > i ? std::nan("") : clean[i * 4 + j];
    }
  const auto got = vals(compute::softmax_backward(t64(dirty, {1, 4, 4}), y, args));
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(std::isfinite(got[i])) << "entry " << i;
  expect_near(got, vals(compute::softmax_backward(t64(clean, {1, 4, 4}), y, args)), 1e-15);
}

// Attention as one op (causal products on blocks of rows) equals the composed
// matmul(attention_softmax(q k^T), v) in values and in the gradients of q, k and v.
TEST(Values, AttentionOpIsTheComposedAttention) {
  struct Kind {
    bool causal;
    int64_t context, block;
  };
  for (Kind kd : {Kind{true, 0, 1}, Kind{true, 0, 3}, Kind{true, 0, 7}, Kind{true, 0, 50}, Kind{true, 4, 2}, Kind{false, 0, 3},
                  Kind{false, 3, 3}}) {
    SCOPED_TRACE(testing::Message() << "causal " << kd.causal << " context " << kd.context << " block " << kd.block);
    Generator gen(17);
    std::vector<Tensor> a, b;
    for (int i = 0; i < 3; ++i) {
      Tensor t = randn({2, 3, 7, 4}, gen, DType::f64);
      a.push_back(clone_data(t).set_requires_grad(true));
      b.push_back(clone_data(t).set_requires_grad(true));
    }
    Tensor w = randn({2, 3, 7, 4}, gen, DType::f64);
    Tensor fused = attention(a[0], a[1], a[2], 0.7, kd.causal, kd.context, kd.block);
    Tensor composed = matmul(attention_softmax(matmul(b[0], b[1], false, true), 0.7, kd.causal, kd.context), b[2]);
    expect_near(vals(fused), vals(composed), 1e-13);
    backward(sum(mul(fused, w)));
    backward(sum(mul(composed, w)));
    for (int i = 0; i < 3; ++i) expect_near(vals(a[i].grad()), vals(b[i].grad()), 1e-13);
    // recompute: the weights rebuilt in backward from the row log-sum-exp give the same gradients
    std::vector<Tensor> c;
    for (int i = 0; i < 3; ++i) c.push_back(clone_data(b[i].detach()).set_requires_grad(true));
    Tensor rebuilt = attention(c[0], c[1], c[2], 0.7, kd.causal, kd.context, kd.block, true);
    expect_near(vals(rebuilt), vals(composed), 1e-13);
    backward(sum(mul(rebuilt, w)));
    for (int i = 0; i < 3; ++i) expect_near(vals(c[i].grad()), vals(b[i].grad()), 1e-13);
  }
}

// The fused SwiGLU gate equals the composed silu(first half) * second half, values and gradients.
TEST(Values, SwigluIsSiluOfTheFirstHalfTimesTheSecond) {
  Generator gen(13);
  Tensor x1 = randn({3, 2, 10}, gen, DType::f64).set_requires_grad(true);
  Tensor x2 = clone_data(x1.detach()).set_requires_grad(true);
  Tensor w = randn({3, 2, 5}, gen, DType::f64);
  Tensor fused = swiglu(x1);
  auto halves = chunk(x2, 2, -1);
  Tensor composed = mul(silu(halves[0]), halves[1]);
  expect_near(vals(fused), vals(composed), 1e-15);
  backward(sum(mul(fused, w)));
  backward(sum(mul(composed, w)));
  expect_near(vals(x1.grad()), vals(x2.grad()), 1e-15);
  EXPECT_THROW(swiglu(randn({2, 3}, gen, DType::f64)), Error);  // odd last dim
}

TEST(Values, LayerNormAndRmsNorm) {
  // mean 2, biased var 2/3
  const double r = 1.0 / std::sqrt(2.0 / 3.0);
  expect_near(vals(layer_norm(t64({1, 2, 3}, {3}), Tensor(), Tensor(), 0.0)), {-r, 0, r});
  // rms of (3, 4) = sqrt(12.5)
  const double s = std::sqrt(12.5);
  expect_near(vals(rms_norm(t64({3, 4}, {2}), t64({1, 2}, {2}), 0.0)), {3 / s, 8 / s});
}

TEST(Values, CrossEntropyIgnoresPadding) {
  // row 0: logits (0, 0), target 1 -> log 2; row 1 ignored
  Tensor logits = t64({0, 0, 5, -5}, {2, 2});
  Tensor t = from_vector({1, -100}, {2}, DType::i64);
  expect_near(vals(cross_entropy(logits, t)), {std::log(2.0)});
  Tensor all_ignored = from_vector({-100, -100}, {2}, DType::i64);
  expect_near(vals(cross_entropy(logits, all_ignored)), {0.0});
}

TEST(Values, GeluTanhApproximation) {
  // 0.5 * (1 + tanh(sqrt(2/pi) * 1.044715))
  expect_near(vals(gelu(t64({1.0, 0.0}, {2}))), {0.8411919906082768, 0.0}, 1e-12);
  expect_near(vals(gelu_grad(t64({0.0}, {1}))), {0.5}, 1e-12);
}

TEST(Values, RopeRotatesPairs) {
  // d = 2: pair (1, 0) at position 1 with theta chosen so the angle is 1 radian
  Tensor x = t64({1, 0, 1, 0}, {2, 2});
  Tensor pos = from_vector({0, 1}, {2}, DType::i64);
  expect_near(vals(rope(x, pos, 10000.0)), {1, 0, std::cos(1.0), std::sin(1.0)});
}

TEST(Values, LayoutOps) {
  Tensor x = t64({1, 2, 3, 4, 5, 6}, {2, 3});
  expect_near(vals(transpose(x, 0, 1)), {1, 4, 2, 5, 3, 6});
  expect_near(vals(flip(x, 1)), {3, 2, 1, 6, 5, 4});
  expect_near(vals(slice(x, 1, 1, 3)), {2, 3, 5, 6});
  expect_near(vals(cat({x, x}, 0)), {1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6});
  expect_near(vals(tril(t64({1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3}))), {1, 0, 0, 4, 5, 0, 7, 8, 9});
  expect_near(vals(triu(t64({1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3}), 1)), {0, 2, 3, 0, 0, 6, 0, 0, 0});
  expect_near(vals(expand(t64({1, 2}, {2, 1}), {2, 3})), {1, 1, 1, 2, 2, 2});
  expect_near(vals(l2_normalize(t64({3, 4}, {2}))), {0.6, 0.8});
  Tensor w = t64({0, 1, 10, 11, 20, 21}, {3, 2});
  expect_near(vals(embedding(w, from_vector({2, 0}, {2}, DType::i32))), {20, 21, 0, 1});
}

TEST(Values, LeadingSliceSharesStorage) {
  Tensor x = t64({1, 2, 3, 4, 5, 6}, {3, 2});
  Tensor s = slice(x, 0, 1, 3);
  EXPECT_EQ(s.storage().get(), x.storage().get());
  expect_near(vals(s), {3, 4, 5, 6});
  EXPECT_EQ(reshape(x, {6}).storage().get(), x.storage().get());
}

TEST(Values, EmptyDims) {
  Tensor e = zeros({0, 3});
  EXPECT_EQ(sum(e, {0}).shape(), (Shape{3}));
  expect_near(vals(sum(e, {0})), {0, 0, 0});
  EXPECT_EQ(matmul(zeros({2, 0}), zeros({0, 3})).to_vector<double>(), std::vector<double>(6, 0.0));
  EXPECT_EQ(cat({zeros({2, 0}), ones({2, 2})}, 1).shape(), (Shape{2, 2}));
}

}  // namespace
}  // namespace ttt
