// Bad calls throw ttt::Error with a message that names the op, the shapes/dtypes/devices and,
// when a module scope is active, where it happened.
#include <gtest/gtest.h>

#include "autograd/ops.h"
#include "core/error.h"

namespace ttt {
namespace {

// Runs fn, expects a ttt::Error whose message contains every fragment.
template <class Fn>
void expect_error(Fn fn, const std::vector<std::string>& fragments) {
  try {
    fn();
    FAIL() << "expected a ttt::Error";
  } catch (const Error& e) {
    std::string msg = e.what();
    for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "missing '" << f << "' in: " << msg;
  }
}

TEST(Errors, BroadcastMismatchNamesOpAndShapes) {
  Tensor a = zeros({2, 3}), b = zeros({4});
  expect_error([&] { add(a, b); }, {"add", "[2, 3]", "[4]", "cannot be broadcast"});
}

TEST(Errors, MatmulInnerDimsNamed) {
  Tensor a = zeros({2, 3}), b = zeros({4, 5});
  expect_error([&] { matmul(a, b); }, {"matmul", "inner dims differ", "f32[2, 3]", "f32[4, 5]", "3 vs 4"});
}

TEST(Errors, DtypeMismatchNamed) {
  Tensor a = zeros({2}, DType::f32), b = zeros({2}, DType::f64);
  expect_error([&] { mul(a, b); }, {"mul", "different dtypes", "f32[2]", "f64[2]"});
}

TEST(Errors, DeviceMismatchNamed) {
  Tensor a = zeros({2}), b = zeros({2}, DType::f32, Device::meta());
  expect_error([&] { sub(a, b); }, {"sub", "different devices", "on cpu", "on meta"});
}

TEST(Errors, IntegerInputToFloatOpNamed) {
  Tensor a = zeros({2}, DType::i64);
  expect_error([&] { exp(a); }, {"exp", "expected a floating tensor", "i64[2]"});
}

TEST(Errors, CudaWithoutGpuIsClear) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is present; this test covers machines without one";
  expect_error([] { zeros({2}, DType::f32, Device::cuda(0)); }, {"cuda:0", "no CUDA GPU"});
}

TEST(Errors, ModuleScopeAppearsInMessage) {
  ErrorContext scope("layers.3.ttt");
  expect_error([&] { matmul(zeros({2, 3}), zeros({2, 3})); }, {"in layers.3.ttt", "matmul"});
}

TEST(Errors, ReshapeToWrongSizeNamed) {
  expect_error([] { reshape(zeros({2, 3}), {4, 2}); }, {"reshape", "f32[2, 3]", "[4, 2]"});
}

TEST(Errors, EmbeddingIdOutOfRangeNamed) {
  Tensor w = zeros({5, 2});
  Tensor ids = from_vector({1, 7}, {2}, DType::i64);
  expect_error([&] { embedding(w, ids); }, {"embedding", "id 7", "5 rows"});
}

TEST(Errors, CrossEntropyTargetOutOfRangeNamed) {
  Tensor logits = zeros({2, 3});
  Tensor t = from_vector({1, 3}, {2}, DType::i64);
  expect_error([&] { cross_entropy(logits, t); }, {"cross_entropy", "target 3", "[0, 3)"});
}

TEST(Errors, BadDimNamed) {
  expect_error([] { sum(zeros({2, 3}), {2}); }, {"dim 2", "rank 2"});
}

TEST(Errors, CatMismatchNamed) {
  expect_error([] { cat({zeros({2, 3}), zeros({3, 3})}, 1); }, {"cat", "tensor 1", "f32[3, 3]", "outside dim 1"});
}

TEST(Errors, UndefinedTensorUseIsClear) {
  expect_error([] { Tensor().shape(); }, {"undefined tensor"});
}

TEST(Errors, RequiresGradOnIntegerTensorRefused) {
  expect_error([] { zeros({2}, DType::i32).set_requires_grad(true); }, {"only floating tensors"});
}

}  // namespace
}  // namespace ttt
