// The fused multi-tensor CUDA AdamW against the CPU AdamW on many tensors of ragged sizes.
#include <gtest/gtest.h>

#include <cmath>

#include "nn/init.h"
#include "nn/optim/adamw.h"
#include "nn/optim/clip.h"

namespace ttt::nn {
namespace {

class ManyParams : public Module {
 public:
  ManyParams(Generator& gen, Device device) : Module("ManyParams") {
    int i = 0;
    for (int64_t n : {1, 31, 1000, 16385, 40000, 7})
      register_parameter(std::string("p").append(std::to_string(i++)), init::normal({n}, 0, 1, gen, device));
  }
};

TEST(CudaAdamW, FusedMatchesCpuWithClipping) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU visible: fused AdamW parity skipped";
  Generator g1(5), g2(5);
  ManyParams cpu_model(g1, Device::cpu()), gpu_model(g2, Device::cuda(0));
  AdamW cpu_opt(cpu_model, {}, {ParamGroupRule{{"p1", ""}, 0.0, 3.0}});
  AdamW gpu_opt(gpu_model, {}, {ParamGroupRule{{"p1", ""}, 0.0, 3.0}});
  Generator gg(9);
  for (int step = 0; step < 5; ++step) {
    auto cp = cpu_model.parameters(), gp = gpu_model.parameters();
    for (size_t i = 0; i < cp.size(); ++i) {
      Tensor g = randn(cp[i].shape(), gg);
      cp[i].set_grad(g);
      gp[i].set_grad(to_device(g, Device::cuda(0)));
    }
    GradNorm nc = global_grad_norm(cp, 50.0), ng = global_grad_norm(gp, 50.0);
    EXPECT_NEAR(nc.norm.item<double>(), ng.norm.item<double>(), 1e-3);
    cpu_opt.step(1e-2, nc.scale);
    gpu_opt.step(1e-2, ng.scale);
  }
  auto cp = cpu_model.named_parameters(), gp = gpu_model.named_parameters();
  for (size_t i = 0; i < cp.size(); ++i) {
    std::vector<float> a = cp[i].second.to_vector<float>(), b = gp[i].second.to_vector<float>();
    for (size_t j = 0; j < a.size(); ++j) ASSERT_NEAR(a[j], b[j], 1e-5) << cp[i].first << "[" << j << "]";
  }
}

}  // namespace
}  // namespace ttt::nn

namespace ttt::nn {
namespace {

TEST(CudaModule, ToDeviceKeepsHandlesAndValues) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU visible: Module::to(cuda) skipped";
  Generator gen(4);
  ManyParams m(gen, Device::cpu());
  auto before = m.named_parameters();
  std::vector<std::vector<float>> values;
  for (auto& [n, t] : before) values.push_back(t.to_vector<float>());
  m.to(Device::cuda(0));
  auto after = m.named_parameters();
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_TRUE(after[i].second.device().is_cuda());
    EXPECT_TRUE(before[i].second.device().is_cuda()) << "an old handle must see the move";
    EXPECT_EQ(after[i].second.to_vector<float>(), values[i]);
  }
}

}  // namespace
}  // namespace ttt::nn
