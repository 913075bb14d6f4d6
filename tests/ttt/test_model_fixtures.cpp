// The whole hybrid stack against its PyTorch twin (tools/reference/hybrid_torch.py; moshi_torch.py
// for model_moshi_ttt: the depformer, moshi-finetune's loss, a TTT-MultiLayer branch), through the
// committed fixtures tests/fixtures/model_*.safetensors: the same parameters and tokens give the
// same loss and the same gradient for every parameter (f64 on the CPU; f32 on the CPU and, when a
// GPU is visible, on CUDA, with the fused scan too).
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "autograd/engine.h"
#include "nn/safetensors.h"
#include "tests/tensor_compare.h"
#include "tests/test_paths.h"
#include "train/config.h"
#include "ttt/model.h"

namespace ttt {
namespace {

void check(const std::string& file, Device device, DType dtype, bool use_kernel, double tol) {
  nn::SafetensorsData fx = nn::load_safetensors(file);
  std::map<std::string, Tensor> t(fx.tensors.begin(), fx.tensors.end());
  // The fixture holds the model; a (never opened) token file keeps the data section valid for any
  // number of streams.
  TrainConfig cfg = parse_config(fx.metadata.at("config"), file, {"data.source=tokens", "data.path=unused.tok"});
  cfg.model.ttt.use_kernel = use_kernel;
  Generator gen(0);
  HybridLM model(cfg.model, gen);
  std::vector<nn::NamedTensor> weights;
  for (auto& [name, v] : fx.tensors)
    if (name.rfind("param.", 0) == 0) weights.emplace_back(name.substr(6), v);
  model.load_state_dict(weights);  // strict: every parameter, nothing else
  model.to_dtype(dtype);
  model.to(device);
  HybridLM::Loss loss = model.loss(to_device(t.at("input.tokens"), device), to_device(t.at("input.targets"), device));
  backward(loss.total);
  const std::string what = file + " on " + device.str() + " in " + dtype_name(dtype) + (use_kernel ? " (fused scan)" : "");
  EXPECT_LE(testing::relative_error(to_device(loss.total.detach(), Device::cpu()), t.at("expect.loss")), tol) << what << ": loss";
  int checked = 0;
  for (auto& [name, p] : model.named_parameters()) {
    auto it = t.find("expect.grad." + name);
    ASSERT_NE(it, t.end()) << what << ": the reference has no gradient for " << name;
    ASSERT_TRUE(p.grad().defined()) << what << ": no gradient reached " << name;
    EXPECT_LE(testing::relative_error(to_device(p.grad(), Device::cpu()), it->second), tol) << what << ": " << name;
    ++checked;
  }
  int expected = 0;
  for (auto& [name, v] : fx.tensors) expected += name.rfind("expect.grad.", 0) == 0;
  EXPECT_EQ(checked, expected) << what;
}

TEST(ModelFixtures, ThereAreSome) { EXPECT_GE(testing::fixture_files("model_").size(), 3u); }

TEST(ModelFixtures, MatchPyTorchInF64) {
  for (const auto& f : testing::fixture_files("model_")) {
    check(f, Device::cpu(), DType::f64, false, 1e-9);
    check(f, Device::cpu(), DType::f64, true, 1e-9);
  }
}

TEST(ModelFixtures, MatchPyTorchInF32) {
  for (const auto& f : testing::fixture_files("model_")) check(f, Device::cpu(), DType::f32, false, 2e-4);
}

TEST(ModelFixtures, MatchPyTorchInF32OnCuda) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU visible";
  for (const auto& f : testing::fixture_files("model_")) {
    check(f, Device::cuda(0), DType::f32, false, 2e-4);
    check(f, Device::cuda(0), DType::f32, true, 2e-4);
  }
}

}  // namespace
}  // namespace ttt
