// The ttt-probe executable end to end: files in, files out, and clear failures.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "autograd/ops.h"
#include "nn/safetensors.h"
#include "tests/test_paths.h"
#include "train/ttt_yaml.h"
#include "ttt/ttt_variants.h"

namespace ttt {
namespace {

namespace fs = std::filesystem;

struct Dir {
  fs::path path = fs::temp_directory_path() / ("ttt_probe_" + std::to_string(::getpid()));
  Dir() { fs::create_directories(path); }
  std::string operator/(const std::string& f) const { return (path / f).string(); }
};

// The executable under test; TTT_PROBE_EXE in the environment overrides the built path.
std::string probe_exe() {
  const char* env = std::getenv("TTT_PROBE_EXE");
  return env && *env ? env : TTT_PROBE_EXE;
}

// Runs a command, returns its exit code and what it printed.
std::pair<int, std::string> run(const std::string& cmd, const Dir& dir) {
  const std::string log = dir / "log.txt";
  const int status = std::system((cmd + " > " + log + " 2>&1").c_str());
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text};
}

// Writes the layer config, `weights` and the fixture's input into dir, runs ttt-probe in f64 on
// them, and returns what it wrote (failing the test when it exits non-zero).
nn::SafetensorsData run_probe_f64(const Dir& dir, const nn::SafetensorsData& fx, const std::vector<nn::NamedTensor>& weights) {
  std::map<std::string, Tensor> t(fx.tensors.begin(), fx.tensors.end());
  std::ofstream(dir / "layer.yaml") << fx.metadata.at("config");
  nn::save_safetensors(dir / "weights.safetensors", weights);
  nn::save_safetensors(dir / "input.safetensors", {{"x", t.at("input.x")}, {"dy", t.at("input.dy")}});
  auto [code, out] =
      run(probe_exe() + " --config " + (dir / "layer.yaml") + " --weights " + (dir / "weights.safetensors") + " --input " +
              (dir / "input.safetensors") + " --output " + (dir / "out.safetensors") + " --dtype f64",
          dir);
  EXPECT_EQ(code, 0) << out;
  return code == 0 ? nn::load_safetensors(dir / "out.safetensors") : nn::SafetensorsData();
}

TEST(TttProbe, ReproducesAFixtureFromFiles) {
  Dir dir;
  nn::SafetensorsData fx = nn::load_safetensors(testing::source_dir() + "/tests/fixtures/ttt_mlp_causal_padded.safetensors");
  std::map<std::string, Tensor> t(fx.tensors.begin(), fx.tensors.end());
  std::vector<nn::NamedTensor> weights;
  for (auto& [name, v] : fx.tensors)
    if (name.rfind("param.", 0) == 0) weights.emplace_back(name.substr(6), v);
  nn::SafetensorsData got = run_probe_f64(dir, fx, weights);
  ASSERT_FALSE(got.tensors.empty());
  size_t compared = 0;
  for (auto& [name, v] : got.tensors) {
    const std::string key = name == "y" ? "expect.y" : "expect." + name;
    ASSERT_TRUE(t.count(key)) << "unexpected output " << name;
    auto a = v.to_vector<double>(), b = t.at(key).to_vector<double>();
    double diff = 0, scale = 1e-30;
    for (size_t i = 0; i < a.size(); ++i) diff = std::max(diff, std::fabs(a[i] - b[i])), scale = std::max(scale, std::fabs(b[i]));
    // the layer is built in f64 (--dtype f64), so f64 weights never pass through f32: f64 parity
    EXPECT_LT(diff / scale, 1e-13) << name;
    ++compared;
  }
  EXPECT_EQ(compared, 2 + weights.size());  // y, grad.x and one gradient per parameter
}

// --dtype f64 builds the layer in f64 before loading: weights off the f32 grid reach it unrounded,
// so the probe matches the same layer run in f64 here to the last bits (built in f32 and cast
// afterwards, as it once was, the weights lost their low bits and the outputs differed by ~1e-8).
TEST(TttProbe, F64WeightsAreNeverRoundedThroughF32) {
  Dir dir;
  nn::SafetensorsData fx = nn::load_safetensors(testing::source_dir() + "/tests/fixtures/ttt_mlp_causal_padded.safetensors");
  std::map<std::string, Tensor> t(fx.tensors.begin(), fx.tensors.end());
  std::vector<nn::NamedTensor> weights;
  for (auto& [name, v] : fx.tensors) {
    if (name.rfind("param.", 0) != 0) continue;
    std::vector<double> w = v.to_vector<double>();
    for (size_t i = 0; i < w.size(); ++i) w[i] += 1e-3 * std::sin(1.0 + static_cast<double>(i));  // off the f32 grid
    weights.emplace_back(name.substr(6), from_vector(w, v.shape(), DType::f64));
  }
  nn::SafetensorsData got = run_probe_f64(dir, fx, weights);
  ASSERT_FALSE(got.tensors.empty());
  Generator gen(0);
  auto layer = make_ttt(ttt_config_from_yaml_text(fx.metadata.at("config"), "fixture"), gen);
  layer->to_dtype(DType::f64);
  layer->load_state_dict(weights);  // f64 into f64: no cast
  Tensor x = to_dtype(t.at("input.x"), DType::f64).set_requires_grad(true);
  Tensor y = layer->forward(x);
  backward(y, to_dtype(t.at("input.dy"), DType::f64));
  std::map<std::string, Tensor> probe(got.tensors.begin(), got.tensors.end());
  auto rel = [](const Tensor& a, const Tensor& b) {
    auto u = a.to_vector<double>(), v = b.to_vector<double>();
    double diff = 0, scale = 1e-30;
    for (size_t i = 0; i < u.size(); ++i) diff = std::max(diff, std::fabs(u[i] - v[i])), scale = std::max(scale, std::fabs(v[i]));
    return diff / scale;
  };
  EXPECT_EQ(probe.at("y").dtype(), DType::f64);
  EXPECT_LT(rel(probe.at("y"), y.detach()), 1e-14);
  EXPECT_LT(rel(probe.at("grad.x"), x.grad()), 1e-14);
}

TEST(TttProbe, BadConfigNamesKeyAndLine) {
  Dir dir;
  std::ofstream(dir / "bad.yaml") << "variant: mlp\nwidth: 16\nheads: 4\nmini_batch: 4\nttt_base_lr: fast\n";
  nn::save_safetensors(dir / "w.safetensors", {{"x", zeros({1})}});
  auto [code, out] = run(probe_exe() + " --config " + (dir / "bad.yaml") + " --weights " + (dir / "w.safetensors") + " --input " +
                             (dir / "w.safetensors") + " --output " + (dir / "o"),
                         dir);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("unknown key 'mini_batch'"), std::string::npos) << out;
  EXPECT_NE(out.find("line 4:1"), std::string::npos) << out;
  EXPECT_NE(out.find("ttt_base_lr (line 5:14): expected a number, got 'fast'"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir / "o")) << "no output file after a failure";
  auto [code2, out2] = run(probe_exe() + " --bogus", dir);
  EXPECT_EQ(code2, 2) << out2;
  EXPECT_NE(out2.find("usage: ttt-probe"), std::string::npos) << out2;
}

}  // namespace
}  // namespace ttt
