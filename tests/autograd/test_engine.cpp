// The tape and backward(): accumulation, reuse, no-grad scopes, detach, freeing, error cases.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "autograd/checkpoint.h"
#include "autograd/node.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "core/rng.h"

namespace ttt {
namespace {

Tensor leaf(std::vector<double> v, Shape s) { return from_vector(v, s, DType::f64).set_requires_grad(true); }

TEST(Engine, UsingATensorTwiceAddsBothPaths) {
  Tensor x = leaf({3.0}, {});
  backward(mul(x, x) + x * 4.0);  // d/dx (x^2 + 4x) = 2x + 4 = 10
  EXPECT_DOUBLE_EQ(x.grad().item<double>(), 10.0);
}

TEST(Engine, GradientsAccumulateAcrossBackwardCalls) {
  Tensor x = leaf({1.0, 2.0}, {2});
  backward(sum(x * 3.0));
  backward(sum(x * 3.0));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{6.0, 6.0}));
  zero_grad({x});
  EXPECT_FALSE(x.grad().defined());
}

TEST(Engine, LeafGradientsDoNotShareStorage) {
  Tensor a = leaf({1.0}, {}), b = leaf({2.0}, {});
  backward(a + b);  // add's backward hands the same gradient to both inputs
  EXPECT_NE(a.grad().storage().get(), b.grad().storage().get());
}

// The completion hook (data parallelism's cue to reduce a gradient while backward goes on): each
// leaf is told once, when its gradient is final, in the order backward completes them.
TEST(Engine, TellsEachLeafOnceWhenItsGradientIsComplete) {
  Tensor w1 = leaf({2.0}, {}), w2 = leaf({3.0}, {}), x = leaf({5.0}, {});
  // loss = w2 * (w1 * x) + w1: w2 completes first; w1 is fed by two nodes and completes with x,
  // when the first product's backward has run
  Tensor loss = mul(w2, mul(w1, x)) + w1;
  std::vector<std::pair<AutogradMeta*, double>> told;
  backward(loss, [&](AutogradMeta& m) { told.emplace_back(&m, m.grad.item<double>()); });
  ASSERT_EQ(told.size(), 3u);
  std::map<AutogradMeta*, int> times;
  for (auto& [m, g] : told) ++times[m];
  for (auto& [m, n] : times) EXPECT_EQ(n, 1);
  EXPECT_EQ(told.front().first, w2.autograd_meta().get());
  EXPECT_EQ(told[1].first, w1.autograd_meta().get());
  EXPECT_EQ(told[2].first, x.autograd_meta().get());
  // the value each was told with is its final gradient
  for (auto& [m, g] : told) EXPECT_DOUBLE_EQ(g, m->grad.item<double>());
  EXPECT_DOUBLE_EQ(w1.grad().item<double>(), 3.0 * 5.0 + 1.0);
  EXPECT_DOUBLE_EQ(w2.grad().item<double>(), 10.0);
  EXPECT_DOUBLE_EQ(x.grad().item<double>(), 6.0);
}

// checkpoint(fn, inputs, params): a function of parameters is checkpointed even when its input needs
// no gradient (the first trainable layer over a frozen stem): the result needs one, backward runs
// fn again and the parameters get the plain run's gradients, and the engine tells each parameter
// once, when the checkpoint's node has run.
TEST(Checkpoint, ParametersGetTheirGradientsWhenTheInputNeedsNone) {
  const Tensor x = from_vector({0.5, -1.0, 2.0, 0.25}, {2, 2}, DType::f64);  // no gradient
  Tensor w = leaf({0.3, -0.2, 0.7, 0.1}, {2, 2}), v = leaf({1.5}, {});
  int calls = 0;
  auto fn = [&](const std::vector<Tensor>& in) {
    ++calls;
    return tanh(matmul(in[0], w)) * v;
  };
  backward(sum(fn({x}) * fn({x})));
  const std::vector<double> gw = w.grad().to_vector<double>(), gv = v.grad().to_vector<double>();
  w.autograd_meta()->grad = Tensor();
  v.autograd_meta()->grad = Tensor();
  calls = 0;
  const Tensor y = checkpoint(fn, {x}, {w, v});
  ASSERT_TRUE(y.requires_grad()) << "a function of trainable parameters was not recorded";
  std::vector<AutogradMeta*> told;
  backward(sum(y * y), [&](AutogradMeta& m) { told.push_back(&m); });
  EXPECT_EQ(calls, 2) << "checkpointed: run once in forward, once more in backward";
  EXPECT_EQ(w.grad().to_vector<double>(), gw);
  EXPECT_EQ(v.grad().to_vector<double>(), gv);
  ASSERT_EQ(told.size(), 2u);
  EXPECT_NE(told[0], told[1]);
  // without params the input decides: nothing needs a gradient through it, so fn runs as it is
  // (recorded, not checkpointed) and the gradients are the same again
  w.autograd_meta()->grad = Tensor();
  calls = 0;
  backward(sum(checkpoint(fn, {x}) * checkpoint(fn, {x})));
  EXPECT_EQ(calls, 2);  // once each, never again
  EXPECT_EQ(w.grad().to_vector<double>(), gw);
}

// A leaf reached only through a branch that got no gradient is not told; a leaf root is.
TEST(Engine, TellsNoLeafThatGotNoGradient) {
  Tensor a = leaf({1.0, 2.0}, {2}), b = leaf({4.0}, {});
  std::vector<Tensor> parts = split(a * 2.0, {1, 1}, 0);
  Tensor loss = sum(parts[0]) * b;  // parts[1] unused: a still gets a (partial) gradient
  int told = 0;
  backward(loss, [&](AutogradMeta&) { ++told; });
  EXPECT_EQ(told, 2);
  int told_root = 0;
  backward(b, [&](AutogradMeta&) { ++told_root; });
  EXPECT_EQ(told_root, 1);
  Tensor c = leaf({2.0}, {});
  backward(c * 3.0, LeafGradReady());  // an empty function: a plain backward
  EXPECT_DOUBLE_EQ(c.grad().item<double>(), 3.0);
}

// A gradient nothing else holds becomes the leaf's .grad as it is (no copy); one that something
// else holds or views is copied, so the leaf's gradient never aliases other memory.
TEST(Engine, LeafTakesOverAFreshGradientAndCopiesAHeldOne) {
  Tensor x = leaf({1.0, 2.0}, {2});
  const Storage* fresh_storage = nullptr;
  Tensor y = record(x.detach(), "fresh_grad", {x}, [&](const Tensor& g) {
    Tensor fresh = g * 3.0;
    fresh_storage = fresh.storage().get();
    return std::vector<Tensor>{fresh};
  });
  backward(sum(y));
  EXPECT_EQ(x.grad().storage().get(), fresh_storage);
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{3.0, 3.0}));

  Tensor z = leaf({1.0, 2.0}, {2});
  Tensor kept = from_vector({5.0, 6.0, 7.0}, {3}, DType::f64);
  Tensor w = record(z.detach(), "held_grad", {z}, [kept](const Tensor&) {
    return std::vector<Tensor>{slice(kept, 0, 0, 2)};  // a view of a tensor the closure holds
  });
  backward(sum(w));
  EXPECT_NE(z.grad().storage().get(), kept.storage().get());
  EXPECT_EQ(z.grad().to_vector<double>(), (std::vector<double>{5.0, 6.0}));
}

TEST(Engine, NoGradScopeRecordsNothing) {
  Tensor x = leaf({1.0}, {});
  Tensor y;
  {
    NoGradGuard guard;
    y = exp(x);
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(exp(x).requires_grad());
}

TEST(Engine, DetachStopsTheGradient) {
  Tensor x = leaf({2.0}, {});
  backward(mul(x, x.detach()));  // only one path: d/dx (x * c) = c = 2
  EXPECT_DOUBLE_EQ(x.grad().item<double>(), 2.0);
}

TEST(Engine, SavedTensorsAreFreedAfterBackward) {
  Tensor x = leaf({2.0}, {});
  Tensor y = exp(x);
  backward(y, Tensor(), /*retain_graph=*/true);
  backward(y);  // allowed: the graph was retained
  EXPECT_NEAR(x.grad().item<double>(), 2 * std::exp(2.0), 1e-12);
  try {
    backward(y);
    FAIL() << "a third backward through a freed graph must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("retain_graph"), std::string::npos) << e.what();
  }
}

TEST(Engine, GraphIsFreedWhenTheOutputGoes) {
  std::weak_ptr<Node> node;
  Tensor x = leaf({1.0}, {});
  {
    Tensor y = exp(x);
    node = y.grad_fn();
    EXPECT_FALSE(node.expired());
  }
  EXPECT_TRUE(node.expired());
}

TEST(Engine, BackwardThroughTensorWithoutGradIsAnError) {
  Tensor x = from_vector({1.0}, {}, DType::f64);
  try {
    backward(exp(x));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not require grad"), std::string::npos) << e.what();
  }
}

TEST(Engine, NonScalarRootNeedsAnExplicitGradient) {
  Tensor x = leaf({1.0, 2.0}, {2});
  Tensor y = x * 2.0;
  try {
    backward(y);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a scalar"), std::string::npos) << e.what();
  }
  backward(y, from_vector({1.0, 10.0}, {2}, DType::f64));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2.0, 20.0}));
}

TEST(Engine, DeepChainsDoNotOverflowTheStack) {
  Tensor x = leaf({1.0}, {});
  Tensor y = x;
  for (int i = 0; i < 20000; ++i) y = y * 1.0;
  backward(y);
  EXPECT_DOUBLE_EQ(x.grad().item<double>(), 1.0);
}

TEST(Engine, OnlyInputsThatRequireGradReceiveOne) {
  Tensor a = leaf({1.0, 2.0}, {2});
  Tensor b = from_vector({3.0, 4.0}, {2}, DType::f64);
  backward(sum(mul(a, b)));
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{3.0, 4.0}));
  EXPECT_FALSE(b.grad().defined());
}

TEST(Engine, DiamondGraphRunsEachNodeOnce) {
  // y = exp(x); z = y * y + y: dz/dx = (2y + 1) * y
  Tensor x = leaf({0.5}, {});
  Tensor y = exp(x);
  backward(y * y + y);
  const double e = std::exp(0.5);
  EXPECT_NEAR(x.grad().item<double>(), (2 * e + 1) * e, 1e-12);
}

// The worked example of docs/autograd.md.
TEST(Engine, DocsWorkedExample) {
  Tensor w = from_vector({2.0}, {}, DType::f64).set_requires_grad(true);
  Tensor x = from_vector({3.0}, {}, DType::f64);
  Tensor y = exp(mul(w, x));
  Tensor L = y + w;
  EXPECT_EQ(L.grad_fn()->name(), "add");
  backward(L);
  EXPECT_NEAR(w.grad().item<double>(), 3 * std::exp(6.0) + 1, 1e-9);
  EXPECT_FALSE(x.grad().defined());
}

}  // namespace
}  // namespace ttt

namespace ttt {
namespace {

// matmul keeps for backward only what a gradient reads: with the weight frozen, its input is not
// kept (the activation memory of a frozen base), and the input's gradient is still right.
TEST(Engine, MatmulKeepsOnlyWhatItsGradientsRead) {
  Generator gen(3);
  Tensor w = randn({4, 3}, gen);  // frozen
  Tensor x = randn({2, 4}, gen).set_requires_grad(true);
  Tensor h = x * 2.0;  // an activation: only the tape may hold it after this scope
  Tensor y = matmul(h, w);
  EXPECT_TRUE(h.sole_owner()) << "the product kept its input although no gradient reads it";
  Tensor trained = randn({4, 3}, gen).set_requires_grad(true);
  Tensor y2 = matmul(h, trained);
  EXPECT_FALSE(h.sole_owner()) << "dW reads the input: it must be kept";
  backward(sum(y));
  // d sum(2 x w) / dx = 2 * (row sums of w), for every row of x
  const std::vector<float> g = x.grad().to_vector<float>(), wv = w.to_vector<float>();
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t k = 0; k < 4; ++k) EXPECT_FLOAT_EQ(g[i * 4 + k], 2 * (wv[k * 3] + wv[k * 3 + 1] + wv[k * 3 + 2]));
}

// A product's gradient joins the gradient gathered so far in one GEMM (beta = 1): the leaf's .grad
// from the first backward is written in place by the second, and holds both sums.
TEST(Engine, AProductAddsItsGradientIntoTheGatheredSumInPlace) {
  Generator gen(5);
  Tensor x = randn({3, 4}, gen, DType::f64).set_requires_grad(true);
  Tensor w = randn({4, 2}, gen, DType::f64);
  backward(sum(matmul(x, w)));
  const Tensor first = clone_data(x.grad());
  const void* storage = x.grad().raw_data();  // no handle kept: .grad stays its only owner
  backward(sum(matmul(x, w)));
  EXPECT_EQ(x.grad().raw_data(), storage) << "the second product's gradient was not added in place";
  const std::vector<double> once = first.to_vector<double>(), twice = x.grad().to_vector<double>();
  for (size_t i = 0; i < once.size(); ++i) EXPECT_DOUBLE_EQ(twice[i], 2 * once[i]);

  // a .grad the caller holds is never written: the sum is a new tensor
  Tensor held = x.grad();
  backward(sum(matmul(x, w)));
  EXPECT_NE(x.grad().raw_data(), held.raw_data());
  EXPECT_EQ(held.to_vector<double>(), twice);
}

// The same for an elementwise product and an activation: their gradient terms are added into the
// sum in the kernel that computes them; a broadcast input's term is summed first, then added.
TEST(Engine, ElementwiseGradientsAddIntoTheGatheredSumInPlace) {
  Generator gen(8);
  Tensor x = randn({3, 4}, gen, DType::f64).set_requires_grad(true);
  Tensor w = randn({3, 4}, gen, DType::f64);
  Tensor col = randn({3, 1}, gen, DType::f64).set_requires_grad(true);
  auto loss = [&] { return sum(mul(x, w) + gelu(x) + mul(col, w)); };
  backward(loss());
  const Tensor x_once = clone_data(x.grad()), col_once = clone_data(col.grad());
  const void* storage = x.grad().raw_data();
  backward(loss());
  EXPECT_EQ(x.grad().raw_data(), storage) << "the product's gradient was not added in place";
  const std::vector<double> once = x_once.to_vector<double>(), twice = x.grad().to_vector<double>();
  for (size_t i = 0; i < once.size(); ++i) EXPECT_DOUBLE_EQ(twice[i], 2 * once[i]);
  const std::vector<double> col1 = col_once.to_vector<double>(), col2 = col.grad().to_vector<double>();
  for (size_t i = 0; i < col1.size(); ++i) EXPECT_DOUBLE_EQ(col2[i], 2 * col1[i]);
}

// matmul_add writes into its addend only when nothing else holds it: a tensor the caller keeps is
// left as it was, and both forms give add(c, matmul(a, b)).
TEST(Engine, MatmulAddWritesOnlyIntoAFreshAddend) {
  Generator gen(9);
  Tensor c = randn({2, 3}, gen, DType::f64), a = randn({2, 4}, gen, DType::f64), b = randn({4, 3}, gen, DType::f64);
  const std::vector<double> c_before = c.to_vector<double>(), expected = add(c, matmul(a, b)).to_vector<double>();
  Tensor kept = matmul_add(c, a, b);
  EXPECT_EQ(c.to_vector<double>(), c_before) << "the addend the caller holds was written";
  const void* fresh_storage = nullptr;
  Tensor fresh = [&] {
    Tensor t = c * 1.0;
    fresh_storage = t.raw_data();
    return matmul_add(std::move(t), a, b);
  }();
  EXPECT_EQ(fresh.raw_data(), fresh_storage) << "a fresh addend's buffer was not reused";
  for (const Tensor& y : {kept, fresh}) {
    const std::vector<double> v = y.to_vector<double>();
    for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(v[i], expected[i], 1e-14);
  }
}

// A backward that fails with a lent sum in hand: the sum goes back, so the gradient gathered by
// earlier backward calls survives the error.
TEST(Engine, AFailingBackwardLosesNoGatheredGradient) {
  Tensor x = leaf({1.0, 2.0}, {2});
  backward(sum(x * 3.0));
  const void* storage = x.grad().raw_data();
  Tensor y =
      record_accumulating(x.detach(), "fails", {x}, [](const Tensor&, const std::vector<Tensor>& sums) -> std::vector<Tensor> {
        EXPECT_TRUE(sums[0].defined()) << "the gathered gradient was not lent";
        throw Error("a backward that fails");
      });
  EXPECT_THROW(backward(sum(y)), Error);
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().raw_data(), storage);
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{3.0, 3.0}));
}

// add's backward hands one gradient tensor to both its inputs: a product that later adds into
// one input's sum must not change the other's (the sum is lent only when nothing else holds it).
TEST(Engine, ASharedGradientIsNotWrittenInPlace) {
  Generator gen(6);
  Tensor a = randn({3, 3}, gen, DType::f64).set_requires_grad(true);
  Tensor b = randn({3, 3}, gen, DType::f64).set_requires_grad(true);
  Tensor m = randn({3, 3}, gen, DType::f64);
  Tensor p = a * 1.0, q = b * 1.0;  // inner nodes: their gradients wait in the engine's slots
  Tensor s = matmul(p, m);          // recorded before the add, so it runs after it in backward
  backward(sum(add(p, q) + s));     // q's and p's slots share add's gradient when s runs
  // d/db = ones; d/da = ones + ones m^T
  for (double v : b.grad().to_vector<double>()) EXPECT_DOUBLE_EQ(v, 1.0);
  const std::vector<double> ga = a.grad().to_vector<double>(), mv = m.to_vector<double>();
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t k = 0; k < 3; ++k) EXPECT_NEAR(ga[i * 3 + k], 1.0 + mv[k * 3] + mv[k * 3 + 1] + mv[k * 3 + 2], 1e-12);
}

}  // namespace
}  // namespace ttt
