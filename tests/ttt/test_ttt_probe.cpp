// The ttt-probe executable end to end: files in, files out, and clear failures.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "nn/safetensors.h"
#include "tests/test_paths.h"

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

TEST(TTTProbe, ReproducesAFixtureFromFiles) {
  Dir dir;
  nn::SafetensorsData fx = nn::load_safetensors(testing::source_dir() + "/tests/fixtures/ttt_mlp_causal_padded.safetensors");
  std::map<std::string, Tensor> t(fx.tensors.begin(), fx.tensors.end());
  std::ofstream(dir / "layer.yaml") << fx.metadata.at("config");
  std::vector<nn::NamedTensor> weights;
  for (auto& [name, v] : fx.tensors)
    if (name.rfind("param.", 0) == 0) weights.emplace_back(name.substr(6), v);
  nn::save_safetensors(dir / "weights.safetensors", weights);
  nn::save_safetensors(dir / "input.safetensors", {{"x", t.at("input.x")}, {"dy", t.at("input.dy")}});
  auto [code, out] = run(probe_exe() + " --config " + (dir / "layer.yaml") + " --weights " +
                             (dir / "weights.safetensors") + " --input " + (dir / "input.safetensors") + " --output " +
                             (dir / "out.safetensors") + " --dtype f64",
                         dir);
  ASSERT_EQ(code, 0) << out;
  nn::SafetensorsData got = nn::load_safetensors(dir / "out.safetensors");
  size_t compared = 0;
  for (auto& [name, v] : got.tensors) {
    const std::string key = name == "y" ? "expect.y" : "expect." + name;
    ASSERT_TRUE(t.count(key)) << "unexpected output " << name;
    auto a = v.to_vector<double>(), b = t.at(key).to_vector<double>();
    double diff = 0, scale = 1e-30;
    for (size_t i = 0; i < a.size(); ++i) diff = std::max(diff, std::fabs(a[i] - b[i])), scale = std::max(scale, std::fabs(b[i]));
    EXPECT_LT(diff / scale, 1e-10) << name;
    ++compared;
  }
  EXPECT_EQ(compared, 2 + weights.size());  // y, grad.x and one gradient per parameter
}

TEST(TTTProbe, BadConfigNamesKeyAndLine) {
  Dir dir;
  std::ofstream(dir / "bad.yaml") << "variant: mlp\nwidth: 16\nheads: 4\nmini_batch: 4\nttt_base_lr: fast\n";
  nn::save_safetensors(dir / "w.safetensors", {{"x", zeros({1})}});
  auto [code, out] = run(probe_exe() + " --config " + (dir / "bad.yaml") + " --weights " +
                             (dir / "w.safetensors") + " --input " + (dir / "w.safetensors") + " --output " + (dir / "o"),
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
