// Fine-tuning a Moshi checkpoint end to end, on the small model of the official package's fixture
// (tests/fixtures/moshi_7b_options.safetensors): ttt-train starts from the checkpoint under Moshi's
// names with a TTT branch added, trains only the branch, and ttt-export writes the Moshi part back
// under Moshi's names unchanged (tools/reference/check_moshi_export.py loads that export into the
// official LMModel on the GPU machine: set TTT_MOSHI_EXPORT_DIR to keep a copy).
#include <gtest/gtest.h>

#include <csignal>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "core/device.h"
#include "nn/init.h"
#include "nn/safetensors.h"
#include "tests/train/train_runner.h"
#include "train/data.h"

namespace ttt {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

using testing::export_exe;

// The fixture's model (moshi 0.2.13's LMModel at the 7B option set, small widths) as YAML keys, a
// TTT-MultiLayer branch on its last layer, and the checkpoint to start from.
std::string moshi_config(const TempDir& dir, const std::string& checkpoint, const std::string& tokens) {
  return R"(model:
  width: 32
  num_layers: 2
  num_heads: 4
  ffn_hidden: 88
  text_vocab: 32
  audio_streams: 16
  audio_vocab: 16
  context: 3000
  hybrid_layers: [-1]
  gate_init: 0.1
  audio_head: depformer
  depformer: {dim: 16, num_layers: 2, num_heads: 2, ffn_hidden: 44, steps: 8, context: 8, multi_linear: true}
  loss: {first_codebook_weight: 100, text_padding_ids: [3, 0], text_padding_weight: 0.5}
  init_from: )" +
         checkpoint +
         R"(
ttt:
  variant: multilayer
  heads: 2
  mlp_dims: [16, 32, 16]
  mini_batch_size: 4
optim:
  lr: 1.0e-2
data:
  source: tokens
  path: )" +
         tokens +
         R"(
  delays: [0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1]
  val_fraction: 0.2
run:
  run_dir: )" +
         (dir / "run") +
         R"(
  device: cpu
  max_steps: 3
  batch_size: 2
  seq_len: 12
  log_freq: 1
  eval_batches: 1
)";
}

struct MoshiRun {
  TempDir dir{"moshi_train"};
  std::map<std::string, Tensor> fixture;  // the package's state dict, under Moshi's names
  std::string checkpoint;
  testing::RunResult trained;
};

void prepare(MoshiRun& m) {
  const nn::SafetensorsData f = nn::load_safetensors(testing::source_dir() + "/tests/fixtures/moshi_7b_options.safetensors");
  std::vector<nn::NamedTensor> params;
  for (auto& [n, t] : f.tensors)
    if (n.rfind("param.", 0) == 0) {
      params.emplace_back(n.substr(6), t);
      m.fixture.emplace(n.substr(6), t);
    }
  m.checkpoint = m.dir / "moshi.safetensors";
  nn::save_safetensors(m.checkpoint, params, {}, {});
  TokenFile tokens;  // random tokens, 17 streams
  tokens.num_streams = 17;
  Generator gen(3);
  const std::vector<double> u = nn::init::uniform({400 * 17}, 0.0, 1.0, gen).to_vector<double>();
  for (size_t i = 0; i < u.size(); ++i) tokens.tokens.push_back(static_cast<uint32_t>(u[i] * (i % 17 == 0 ? 32 : 16)));
  write_token_file(m.dir / "tokens.tok", tokens);
  std::ofstream(m.dir / "moshi.yaml") << moshi_config(m.dir, m.checkpoint, m.dir / "tokens.tok");
  m.trained = testing::run_train("--config " + (m.dir / "moshi.yaml"), m.dir);
}

TEST(MoshiTrain, FineTunesTheTttBranchOfALoadedCheckpointAndExportsItBack) {
  MoshiRun m;
  prepare(m);
  ASSERT_EQ(m.trained.code, 0) << m.trained.output;
  const std::string& out = m.trained.output;
  EXPECT_NE(out.find("(Moshi names): loaded " + std::to_string(m.fixture.size()) + " tensors"), std::string::npos) << out;
  EXPECT_NE(out.find("initialised (TTT branches, not in the file)"), std::string::npos) << out;
  EXPECT_NE(out.find("gradient flow: every trainable parameter"), std::string::npos) << out;

  // the Moshi part left the run as it came in: export it under Moshi's names and compare, bit for bit
  const std::string exported = m.dir / "export";
  testing::RunResult e = testing::run_tool(export_exe(), (m.dir / "run") + " " + exported + " --format moshi", m.dir);
  ASSERT_EQ(e.code, 0) << e.output;
  const nn::SafetensorsData moshi = nn::load_safetensors(exported + "/model.safetensors");
  EXPECT_EQ(moshi.tensors.size(), m.fixture.size());
  for (auto& [name, t] : moshi.tensors) {
    ASSERT_TRUE(m.fixture.count(name)) << name << " is not one of the package's names";
    EXPECT_EQ(t.shape(), m.fixture.at(name).shape()) << name;
    EXPECT_EQ(t.to_vector<float>(), m.fixture.at(name).to_vector<float>()) << name << " changed (it was frozen)";
  }
  const nn::SafetensorsData branches = nn::load_safetensors(exported + "/ttt_branches.safetensors");
  EXPECT_FALSE(branches.tensors.empty());
  for (auto& [name, t] : branches.tensors) EXPECT_EQ(name.rfind("layers.1.", 0), 0u) << name;
  EXPECT_TRUE(fs::exists(exported + "/config.json"));
  if (const char* keep = std::getenv("TTT_MOSHI_EXPORT_DIR"); keep && *keep)
    fs::copy(exported, keep, fs::copy_options::recursive | fs::copy_options::overwrite_existing);

  // the export folder starts a new run with everything, TTT branches included (ttt.cpp's names)
  testing::RunResult again = testing::run_train(
      "--config " + (m.dir / "moshi.yaml") + " model.init_from=" + exported + " run.run_dir=" + (m.dir / "run2"), m.dir);
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_EQ(again.output.find("initialised (TTT branches"), std::string::npos) << again.output;

  // generation from the run and from its export (--config + --weights) is the same, token for token
  const std::string gen = testing::generate_exe();
  testing::RunResult from_run = testing::run_tool(gen, (m.dir / "run") + " --steps 6 --seed 2", m.dir);
  testing::RunResult from_export =
      testing::run_tool(gen, "--config " + (m.dir / "moshi.yaml") + " --weights " + exported + " --steps 6 --seed 2", m.dir);
  ASSERT_EQ(from_run.code, 0) << from_run.output;
  ASSERT_EQ(from_export.code, 0) << from_export.output;
  auto tokens_line = [](const std::string& text) { return text.substr(text.rfind('\n', text.size() - 2) + 1); };
  EXPECT_EQ(tokens_line(from_run.output), tokens_line(from_export.output)) << from_run.output << "\n" << from_export.output;
  EXPECT_NE(from_export.output.find("(Moshi names): loaded"), std::string::npos) << from_export.output;

  // --format ttt, and a second export onto a folder with files is refused, the files untouched
  testing::RunResult t = testing::run_tool(export_exe(), (m.dir / "run") + " " + (m.dir / "ttt") + " --format ttt", m.dir);
  ASSERT_EQ(t.code, 0) << t.output;
  const std::string before = testing::read_file(exported + "/model.safetensors");
  testing::RunResult refused = testing::run_tool(export_exe(), (m.dir / "run") + " " + exported + " --format moshi", m.dir);
  EXPECT_EQ(refused.code, 1) << refused.output;
  EXPECT_NE(refused.output.find("nothing is overwritten"), std::string::npos) << refused.output;
  EXPECT_EQ(testing::read_file(exported + "/model.safetensors"), before);
  EXPECT_FALSE(std::filesystem::exists(exported + "/.ttt-export-writing")) << "a finished export leaves no claim";

  // another export's claim on an empty folder (two exports started onto it at once): refused,
  // nothing written next to the claim
  const std::string claimed = m.dir / "claimed";
  std::filesystem::create_directories(claimed);
  std::ofstream(claimed + "/.ttt-export-writing").close();
  testing::RunResult second = testing::run_tool(export_exe(), (m.dir / "run") + " " + claimed + " --format ttt", m.dir);
  EXPECT_EQ(second.code, 1) << second.output;
  EXPECT_NE(second.output.find("another ttt-export is writing there"), std::string::npos) << second.output;
  const auto entries = std::distance(std::filesystem::directory_iterator(claimed), std::filesystem::directory_iterator());
  EXPECT_EQ(entries, 1);

  // SIGINT once the first file is written: the export stops, removes what it wrote (and the
  // folder it made), says so, and exits with 130; onto an empty folder the folder stays, empty
  const std::string stopped = m.dir / "stopped", empty = m.dir / "empty";
  std::filesystem::create_directories(empty);
  for (const std::string& target : {stopped, empty}) {
    testing::RunResult r = testing::run_tool(export_exe(), (m.dir / "run") + " " + target + " --format moshi", m.dir,
                                             "TTT_FAULT=sigint_in_export:1");
    EXPECT_EQ(r.signal, SIGINT) << r.output;  // exit status 130 (run_tool reads 128 + N as signal N)
    EXPECT_NE(r.output.find("ttt-export: stopped by SIGINT; the files it had written to " + target + " were removed"),
              std::string::npos)
        << r.output;
    EXPECT_EQ(std::filesystem::exists(target), target == empty) << target;
    if (target == empty) {
      EXPECT_TRUE(std::filesystem::is_empty(target)) << "the export's files and its claim are gone";
    }
  }
}

// trainable.frozen_dtype: bf16: the frozen Moshi part is stored (and checkpointed) in bf16, the
// TTT branch in f32; the run stops, resumes and exports like any other.
TEST(MoshiTrain, FrozenWeightsInBf16CheckpointResumeAndExport) {
  MoshiRun m;
  prepare(m);
  ASSERT_EQ(m.trained.code, 0) << m.trained.output;
  const std::string run = m.dir / "bf16";
  testing::RunResult r = testing::run_train(
      "--config " + (m.dir / "moshi.yaml") + " trainable.frozen_dtype=bf16 run.stop_at_step=2 run.run_dir=" + run, m.dir);
  ASSERT_EQ(r.code, 0) << r.output;
  const nn::SafetensorsData ckpt = nn::load_safetensors(run + "/checkpoints/step_00000002/model.safetensors");
  int bf16 = 0, f32 = 0;
  for (auto& [name, dtype] : ckpt.file_dtypes) {
    const bool branch = name.find(".ttt.") != std::string::npos || name.find("ssm_gating") != std::string::npos;
    EXPECT_EQ(dtype, branch ? "F32" : "BF16") << name;
    (dtype == "BF16" ? bf16 : f32)++;
  }
  EXPECT_EQ(static_cast<size_t>(bf16), m.fixture.size());
  EXPECT_GT(f32, 0);
  testing::RunResult resumed = testing::run_train("--resume " + run, m.dir);
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("done: 1 steps"), std::string::npos) << resumed.output;
  testing::RunResult e = testing::run_tool(export_exe(), run + " " + (m.dir / "bf16_export") + " --format moshi", m.dir);
  ASSERT_EQ(e.code, 0) << e.output;
  const nn::SafetensorsData moshi = nn::load_safetensors(m.dir / "bf16_export/model.safetensors");
  for (auto& [name, t] : moshi.tensors) {  // the package's f32 weights rounded to bf16, no further
    const std::vector<float> got = t.to_vector<float>(), was = m.fixture.at(name).to_vector<float>();
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], was[i], std::fabs(was[i]) / 256.0) << name;
  }
}

// The same fine-tuning on the GPU follows the CPU's losses.
TEST(MoshiTrain, TrainsOnCudaLikeOnTheCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU visible (run test_train on the device machine)";
  MoshiRun m;
  prepare(m);
  ASSERT_EQ(m.trained.code, 0) << m.trained.output;
  testing::RunResult gpu =
      testing::run_train("--config " + (m.dir / "moshi.yaml") + " run.device=cuda run.run_dir=" + (m.dir / "gpu"), m.dir);
  ASSERT_EQ(gpu.code, 0) << gpu.output;
  const auto losses = testing::logged_losses;
  const std::vector<double> cpu = losses(m.dir / "run/metrics.jsonl"), cuda = losses(m.dir / "gpu/metrics.jsonl");
  ASSERT_EQ(cpu.size(), 3u);
  ASSERT_EQ(cuda.size(), cpu.size());
  for (size_t i = 0; i < cpu.size(); ++i) EXPECT_NEAR(cuda[i], cpu[i], 1e-4 * cpu[i]) << "step " << i + 1;
  // and with the frozen part in bf16 (its products in bf16 on both: their sums differ a little)
  const std::string bf16 = " trainable.frozen_dtype=bf16 run.run_dir=";
  ASSERT_EQ(testing::run_train("--config " + (m.dir / "moshi.yaml") + bf16 + (m.dir / "cpu_bf16"), m.dir).code, 0);
  ASSERT_EQ(
      testing::run_train("--config " + (m.dir / "moshi.yaml") + " run.device=cuda" + bf16 + (m.dir / "gpu_bf16"), m.dir).code, 0);
  const std::vector<double> cpu16 = losses(m.dir / "cpu_bf16/metrics.jsonl"), gpu16 = losses(m.dir / "gpu_bf16/metrics.jsonl");
  ASSERT_EQ(cpu16.size(), 3u);
  ASSERT_EQ(gpu16.size(), cpu16.size());
  for (size_t i = 0; i < cpu16.size(); ++i) {
    EXPECT_NEAR(gpu16[i], cpu16[i], 2e-3 * cpu16[i]) << "frozen bf16, step " << i + 1;
    EXPECT_NEAR(cpu16[i], cpu[i], 1e-2 * cpu[i]) << "frozen bf16 against f32, step " << i + 1;
  }
  std::printf("Moshi fine-tune losses, cpu / cuda / cpu frozen bf16 / cuda frozen bf16:\n");
  for (size_t i = 0; i < cpu.size(); ++i)
    std::printf("  step %zu: %.6f %.6f %.6f %.6f\n", i + 1, cpu[i], cuda[i], cpu16[i], gpu16[i]);
}

TEST(MoshiTrain, AStrictInitFromThatDoesNotFitIsRefusedBeforeAnythingIsWritten) {
  TempDir dir("moshi_refused");
  const nn::SafetensorsData f = nn::load_safetensors(testing::source_dir() + "/tests/fixtures/moshi_7b_options.safetensors");
  std::vector<nn::NamedTensor> params;
  for (auto& [n, t] : f.tensors)
    if (n.rfind("param.", 0) == 0 && n.find("layers.1.") == std::string::npos) params.emplace_back(n.substr(6), t);
  nn::save_safetensors(dir / "partial.safetensors", params, {}, {});
  TokenFile tokens;
  tokens.num_streams = 17;
  tokens.tokens.assign(400 * 17, 1);
  write_token_file(dir / "tokens.tok", tokens);
  std::ofstream(dir / "moshi.yaml") << moshi_config(dir, dir / "partial.safetensors", dir / "tokens.tok");
  testing::RunResult r = testing::run_train("--config " + (dir / "moshi.yaml"), dir);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("missing (in the model, not in the file)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("transformer.layers.1.") == std::string::npos ? r.output.find("layers.1.norm1.weight") : 0,
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(dir / "run"));  // refused before the run directory was made
}

}  // namespace
}  // namespace ttt
