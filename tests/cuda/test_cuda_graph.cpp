// CudaGraph (core/cuda_graph.h): a recorded forward+backward replays with new inputs to the values
// the ops give when run one by one; the graph's memory is never handed to anything else; work
// that reads the device from the host cannot be recorded, and says so.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "core/cuda_graph.h"
#include "core/error.h"
#include "core/rng.h"
#include "tests/cuda/skip_without_gpu.h"

namespace ttt {
namespace {

const Device kGpu = Device::cuda(0);

Tensor loss_of(const Tensor& x, const Tensor& w) { return sum(square(gelu(matmul(x, w)))); }

double max_abs_diff(const Tensor& a, const Tensor& b) {
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

TEST(CudaGraph, ReplaysAForwardBackwardWithNewInputs) {
  SKIP_WITHOUT_GPU();
  Generator gen(7);
  Tensor x = to_device(randn({67, 33}, gen), kGpu);
  Tensor w = to_device(randn({33, 19}, gen), kGpu).set_requires_grad(true);
  backward(loss_of(x, w));  // a warm-up run, as ttt-train does: fills the allocator's cache
  zero_grad({w});
  Tensor loss;
  CudaGraph graph;
  graph.capture([&] {
    loss = loss_of(x, w);
    backward(loss);
  });
  ASSERT_TRUE(graph.captured());
  const Tensor grad = w.grad();
  for (int round = 0; round < 3; ++round) {
    Tensor fresh = randn({67, 33}, gen);
    copy_into(x, fresh);
    graph.replay();
    Tensor w_eager = w.detach().set_requires_grad(true);
    Tensor expected = loss_of(to_device(fresh, kGpu), w_eager);
    backward(expected);
    EXPECT_NEAR(loss.item<double>(), expected.item<double>(), 1e-4 * std::abs(expected.item<double>())) << round;
    const double scale = max_abs_diff(w_eager.grad(), zeros({33, 19}, DType::f32, kGpu));
    EXPECT_LE(max_abs_diff(grad, w_eager.grad()), 1e-5 * scale) << round;
    EXPECT_TRUE(w.grad().is_same(grad)) << "the replay writes into the gradient the capture made";
  }
}

TEST(CudaGraph, ItsMemoryIsNeverHandedOutside) {
  SKIP_WITHOUT_GPU();
  Tensor x = full({1000}, 2.0, DType::f32, kGpu);
  const void* temporary = nullptr;
  Tensor out;
  CudaGraph graph;
  graph.capture([&] {
    Tensor t = mul(x, x);  // freed at the end of the lambda, while capturing
    temporary = t.raw_data();
    out = add(t, x);
  });
  Tensor outside = empty({1000}, DType::f32, kGpu);  // the same size: the freed temporary would fit best
  EXPECT_NE(outside.raw_data(), temporary);
  graph.replay();
  EXPECT_EQ(out.to_vector<double>()[999], 6.0);
}

TEST(CudaGraph, HostReadsInsideAreRefusedClearly) {
  SKIP_WITHOUT_GPU();
  Tensor x = full({4}, 1.0, DType::f32, kGpu);
  CudaGraph graph;
  try {
    graph.capture([&] { (void)sum(x).item<double>(); });
    FAIL() << "a host read was recorded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA error"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(graph.captured());
  EXPECT_EQ(sum(x).item<double>(), 4.0);  // the default stream works as before
}

}  // namespace
}  // namespace ttt
