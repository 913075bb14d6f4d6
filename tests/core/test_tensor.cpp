// Tensors, devices, dtypes, storage sharing and the meta device.
#include <gtest/gtest.h>

#include <chrono>

#include "core/error.h"
#include "core/tensor.h"

namespace ttt {
namespace {

TEST(Tensor, ShapeDtypeDeviceAndDescribe) {
  Tensor t = zeros({2, 3}, DType::f64);
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.size(-1), 3);
  EXPECT_EQ(t.describe(), "f64[2, 3] on cpu");
  EXPECT_EQ(Tensor().describe(), "undefined tensor");
}

TEST(Tensor, FromVectorConvertsAndRoundTrips) {
  Tensor t = from_vector({1.5, -2.0, 3.0}, {3}, DType::f32);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1.5f, -2.0f, 3.0f}));
  EXPECT_EQ(to_dtype(t, DType::i64).to_vector<int64_t>(), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_THROW(from_vector({1, 2}, {3}), Error);
}

TEST(Tensor, CloneCopiesViewShares) {
  Tensor a = ones({4});
  Tensor v = view_shape(a, {2, 2});
  Tensor c = clone_data(a);
  EXPECT_EQ(v.storage().get(), a.storage().get());
  EXPECT_NE(c.storage().get(), a.storage().get());
  a.data<float>()[0] = 7;
  EXPECT_EQ(v.to_vector<float>()[0], 7.0f);
  EXPECT_EQ(c.to_vector<float>()[0], 1.0f);
}

TEST(Tensor, DataChecksTheDtype) { EXPECT_THROW(zeros({2}).data<double>(), Error); }

TEST(Tensor, MetaAllocatesNothing) {
  // A 7B-parameter-sized tensor on the meta device: no memory, instant.
  auto start = std::chrono::steady_clock::now();
  Tensor t = empty({32, 4096, 4096 * 13}, DType::f32, Device::meta());
  EXPECT_EQ(t.raw_data(), nullptr);
  EXPECT_EQ(t.numel(), int64_t{32} * 4096 * 4096 * 13);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(100));
  EXPECT_THROW(t.to_vector<float>(), Error);
}

TEST(Device, ParseAndPrint) {
  EXPECT_EQ(Device::parse("cuda:1"), Device::cuda(1));
  EXPECT_EQ(Device::parse("cpu").str(), "cpu");
  EXPECT_EQ(Device::parse("meta"), Device::meta());
  EXPECT_THROW(Device::parse("gpu"), Error);
  EXPECT_THROW(Device::parse("cuda:x"), Error);
}

TEST(Shape, BroadcastRules) {
  EXPECT_EQ(broadcast_shapes({2, 1, 3}, {4, 1}, "t"), (Shape{2, 4, 3}));
  EXPECT_EQ(broadcast_shapes({}, {5}, "t"), (Shape{5}));
  EXPECT_THROW(broadcast_shapes({2, 3}, {4, 3}, "t"), Error);
}

}  // namespace
}  // namespace ttt

namespace ttt {
namespace {

// Constants built once and shared: the same values give the same storage; anything else differs.
TEST(Tensor, CachedConstantsAreSharedPerValuesShapeAndDtype) {
  Tensor a = cached_constant({0, 1, 2}, {3}, DType::i64, Device::cpu());
  Tensor b = cached_constant({0, 1, 2}, {3}, DType::i64, Device::cpu());
  EXPECT_EQ(a.raw_data(), b.raw_data());
  EXPECT_EQ(a.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_NE(cached_constant({0, 1, 3}, {3}, DType::i64, Device::cpu()).raw_data(), a.raw_data());
  EXPECT_NE(cached_constant({0, 1, 2}, {3}, DType::f32, Device::cpu()).raw_data(), a.raw_data());
  EXPECT_NE(cached_constant({0, 1, 2}, {3, 1}, DType::i64, Device::cpu()).raw_data(), a.raw_data());
}

}  // namespace
}  // namespace ttt
