// The compute layer on the meta device (shapes only) and on the CPU without autograd.
#include <gtest/gtest.h>

#include "core/compute.h"
#include "core/error.h"

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

// TF32 applies to CUDA products only: on the CPU the result is the same to the last bit.
TEST(MatmulPrecision, Tf32LeavesCpuProductsExact) {
  Tensor a = from_vector({1.0000001, 2, 3, 4.0000003, 5, 6}, {2, 3}), b = from_vector({0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, {3, 2});
  const std::vector<float> f32 = compute::matmul(a, b).to_vector<float>();
  compute::set_matmul_precision(compute::MatmulPrecision::tf32);
  EXPECT_EQ(compute::matmul_precision(), compute::MatmulPrecision::tf32);
  const std::vector<float> tf32 = compute::matmul(a, b).to_vector<float>();
  compute::set_matmul_precision(compute::MatmulPrecision::f32);
  EXPECT_EQ(f32, tf32);
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
  EXPECT_EQ(compute::reduce(ReduceOp::sum, x, {0, 2}, false).to_vector<double>(),
            (std::vector<double>{202, 242, 282}));
}

}  // namespace
}  // namespace ttt
