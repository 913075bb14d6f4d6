// Parity with the independent PyTorch reference (tools/reference/ttt_reference.py) through the
// fixtures of tools/reference/make_ttt_fixtures.py and the ttt-probe code path (run_probe):
// output and every gradient, in f64 and f32 on the CPU and in f32 on CUDA when a GPU is present.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "nn/safetensors.h"
#include "tests/tensor_compare.h"
#include "tests/test_paths.h"
#include "train/probe.h"
#include "train/ttt_yaml.h"

namespace ttt {
namespace {

void check_fixture(const std::string& file, Device device, DType dtype, double tol) {
  nn::SafetensorsData fx = nn::load_safetensors(file);
  std::map<std::string, Tensor> t(fx.tensors.begin(), fx.tensors.end());
  const TTTConfig cfg = ttt_config_from_yaml_text(fx.metadata.at("config"), file);
  std::vector<nn::NamedTensor> weights;
  for (auto& [name, v] : fx.tensors)
    if (name.rfind("param.", 0) == 0) weights.emplace_back(name.substr(6), v);
  SeqMetadata meta;
  meta.valid_length = std::stoll(fx.metadata.at("valid_length"));
  ProbeResult r = run_probe(cfg, weights, t.at("input.x"), t.at("input.dy"), meta, device, dtype);
  const std::string what = file + " on " + device.str() + " in " + dtype_name(dtype);
  EXPECT_LE(testing::relative_error(r.y, t.at("expect.y")), tol) << what << ": output";
  size_t checked = 0;
  for (auto& [name, g] : r.grads) {
    auto it = t.find("expect." + name);
    ASSERT_NE(it, t.end()) << what << ": the reference has no " << name;
    EXPECT_LE(testing::relative_error(g, it->second), tol) << what << ": " << name;
    ++checked;
  }
  size_t expected = 0;
  for (auto& [name, v] : fx.tensors) expected += name.rfind("expect.grad.", 0) == 0;
  EXPECT_EQ(checked, expected) << what << ": every reference gradient must be compared";
}

TEST(TttFixtures, FilesArePresentAndSmall) {
  auto files = testing::fixture_files("ttt_");
  EXPECT_GE(files.size(), 5u);
  uintmax_t total = 0;
  for (auto& f : files) total += std::filesystem::file_size(f);
  EXPECT_LT(total, 2u << 20) << "fixtures should stay well under 2 MB";
}

TEST(TttFixtures, MatchPyTorchInF64OnCpu) {
  for (auto& f : testing::fixture_files("ttt_")) check_fixture(f, Device::cpu(), DType::f64, 1e-10);
}

TEST(TttFixtures, MatchPyTorchInF32OnCpu) {
  for (auto& f : testing::fixture_files("ttt_")) check_fixture(f, Device::cpu(), DType::f32, 2e-5);
}

TEST(TttFixtures, MatchPyTorchInF32OnCuda) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU visible: TTT fixture parity on CUDA skipped";
  for (auto& f : testing::fixture_files("ttt_")) check_fixture(f, Device::cuda(0), DType::f32, 2e-5);
}

}  // namespace
}  // namespace ttt
