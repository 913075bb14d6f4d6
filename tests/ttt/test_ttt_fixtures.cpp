// Parity with the independent PyTorch reference (tools/reference/ttt_reference.py) through the
// fixtures of tools/reference/make_ttt_fixtures.py and the ttt-probe code path (run_probe):
// output and every gradient, in f64 and f32 on the CPU and in f32 on CUDA when a GPU is present.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "nn/safetensors.h"
#include "tests/test_paths.h"
#include "train/probe.h"
#include "train/ttt_yaml.h"

namespace ttt {
namespace {

std::vector<std::string> fixture_files() {
  std::vector<std::string> files;
  for (auto& e : std::filesystem::directory_iterator(testing::source_dir() + "/tests/fixtures")) {
    const std::string name = e.path().filename().string();
    if (name.rfind("ttt_", 0) == 0 && e.path().extension() == ".safetensors") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// max |ours - reference| / max |reference|
double rel_error(const Tensor& ours, const Tensor& ref) {
  auto a = ours.to_vector<double>(), b = ref.to_vector<double>();
  EXPECT_EQ(a.size(), b.size());
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    diff = std::max(diff, std::fabs(a[i] - b[i]));
    scale = std::max(scale, std::fabs(b[i]));
  }
  return diff / scale;
}

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
  EXPECT_LE(rel_error(r.y, t.at("expect.y")), tol) << what << ": output";
  size_t checked = 0;
  for (auto& [name, g] : r.grads) {
    auto it = t.find("expect." + name);
    ASSERT_NE(it, t.end()) << what << ": the reference has no " << name;
    EXPECT_LE(rel_error(g, it->second), tol) << what << ": " << name;
    ++checked;
  }
  size_t expected = 0;
  for (auto& [name, v] : fx.tensors) expected += name.rfind("expect.grad.", 0) == 0;
  EXPECT_EQ(checked, expected) << what << ": every reference gradient must be compared";
}

TEST(TTTFixtures, FilesArePresentAndSmall) {
  auto files = fixture_files();
  EXPECT_GE(files.size(), 5u);
  uintmax_t total = 0;
  for (auto& f : files) total += std::filesystem::file_size(f);
  EXPECT_LT(total, 2u << 20) << "fixtures should stay well under 2 MB";
}

TEST(TTTFixtures, MatchPyTorchInF64OnCpu) {
  for (auto& f : fixture_files()) check_fixture(f, Device::cpu(), DType::f64, 1e-10);
}

TEST(TTTFixtures, MatchPyTorchInF32OnCpu) {
  for (auto& f : fixture_files()) check_fixture(f, Device::cpu(), DType::f32, 2e-5);
}

TEST(TTTFixtures, MatchPyTorchInF32OnCuda) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU visible: TTT fixture parity on CUDA skipped";
  for (auto& f : fixture_files()) check_fixture(f, Device::cuda(0), DType::f32, 2e-5);
}

}  // namespace
}  // namespace ttt
