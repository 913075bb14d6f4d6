// ttt-train end to end: training runs, resume is exact, the 7B dry run reconciles, and bad
// configs exit with a message naming the problem and its place (never a crash).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/device.h"
#include "core/error.h"
#include "nn/policy.h"
#include "nn/safetensors.h"
#include "tests/train/train_runner.h"
#include "train/config.h"
#include "train/data.h"

namespace ttt {
namespace {

namespace fs = std::filesystem;
using testing::read_file;
using testing::TempDir;

struct Result {
  int code;
  std::string output;
};

Result train(const std::string& args, const TempDir& dir, const std::string& prefix = "") {
  testing::RunResult r = testing::run_train(args, dir, prefix);
  return {r.code, r.output};
}

std::string read(const std::string& path) { return read_file(path); }

// The "loss" entries of a metrics file, as text (full precision), by step.
std::map<int, std::string> losses(const std::string& metrics) {
  std::map<int, std::string> out;
  std::istringstream in(read(metrics));
  std::string line;
  while (std::getline(in, line)) {
    const size_t l = line.find("\"loss\":");
    if (l == std::string::npos) continue;
    const int step = std::stoi(line.substr(line.find("\"step\":") + 7));
    out[step] = line.substr(l + 7, line.find(',', l) - l - 7);
  }
  return out;
}

const std::string kSmall = testing::kSmallRun;

TEST(TttTrain, TrainsAndWritesEverything) {
  TempDir dir("ttt_train_run");
  Result r = train("--config configs/tiny.yaml run.max_steps=6 run.run_dir=" + (dir / "run") + kSmall, dir);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("gradient flow: every trainable parameter"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("TOTAL"), std::string::npos) << r.output;
  EXPECT_EQ(losses(dir / "run/metrics.jsonl").size(), 3u);
  EXPECT_TRUE(fs::exists(dir / "run/config.yaml"));
  EXPECT_TRUE(fs::exists(dir / "run/checkpoints/step_00000006/model.safetensors"));
  EXPECT_TRUE(fs::exists(dir / "run/checkpoints/step_00000006/optimizer.safetensors"));
  EXPECT_TRUE(fs::exists(dir / "run/checkpoints/step_00000006/trainer.json"));
  // a second start into the same run_dir must not silently clobber it
  Result again = train("--config configs/tiny.yaml run.run_dir=" + (dir / "run") + kSmall, dir);
  EXPECT_EQ(again.code, 1) << again.output;
  EXPECT_NE(again.output.find("--resume"), std::string::npos) << again.output;
}

TEST(TttTrain, FusedScanTrainsLikeTheComposedScan) {
  // ttt.use_kernel=true swaps the composed scan for the fused one: same function, same gradients,
  // so the same losses (the CPU executor here; the CUDA kernel has its parity suite in test_cuda).
  std::vector<std::map<int, std::string>> runs;
  for (const std::string& kernel : {std::string("false"), std::string("true")}) {
    TempDir dir("ttt_train_kernel_" + kernel);
    Result r = train(
        "--config configs/tiny.yaml run.max_steps=6 ttt.use_kernel=" + kernel + " run.run_dir=" + (dir / "run") + kSmall, dir);
    ASSERT_EQ(r.code, 0) << r.output;
    runs.push_back(losses(dir / "run/metrics.jsonl"));
  }
  ASSERT_EQ(runs[0].size(), 3u);
  ASSERT_EQ(runs[1].size(), runs[0].size());
  // the key reaches the layers' config: the fused scan refuses the primal form there
  TempDir bad("ttt_train_kernel_primal");
  Result refused = train(
      "--config configs/tiny.yaml run.max_steps=2 ttt.use_kernel=true ttt.scan_form=primal run.run_dir=" + (bad / "run") + kSmall,
      bad);
  EXPECT_EQ(refused.code, 1) << refused.output;
  EXPECT_NE(refused.output.find("use_kernel"), std::string::npos) << refused.output;
  for (const auto& [step, loss] : runs[0]) {
    ASSERT_TRUE(runs[1].count(step)) << step;
    EXPECT_NEAR(std::stod(runs[1].at(step)), std::stod(loss), 1e-4 * std::abs(std::stod(loss))) << "step " << step;
  }
}

// run.cuda_graph replays one recorded forward+backward per step from the third step on: the same
// losses as running each step's ops (up to the order of the embedding gradient's atomic adds),
// through an eval and a checkpoint between replays, and with an injected NaN gradient skipped.
TEST(TttTrain, CudaGraphTrainsLikeEagerSteps) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU visible (run test_train on the device machine)";
  std::vector<std::map<int, std::string>> runs;
  for (const std::string graph : {"false", "true"}) {
    TempDir dir("ttt_train_graph_" + graph);
    Result r = train("--config configs/tiny.yaml" + kSmall +
                         " run.device=cuda run.max_steps=10 run.log_freq=2 "
                         "run.eval_freq=4 run.ckpt_freq=4 run.cuda_graph=" +
                         graph + " run.run_dir=" + (dir / "run"),
                     dir);
    ASSERT_EQ(r.code, 0) << r.output;
    runs.push_back(losses(dir / "run/metrics.jsonl"));
    // the allocator's peak beside the estimate, once, at the first logged step
    EXPECT_NE(r.output.find("memory measured by step 2: peak "), std::string::npos) << r.output;
    EXPECT_NE(read_file(dir / "run/metrics.jsonl").find("\"memory_peak_mib\""), std::string::npos);
  }
  ASSERT_EQ(runs[0].size(), 5u);
  ASSERT_EQ(runs[1].size(), runs[0].size());
  for (const auto& [step, loss] : runs[0])
    EXPECT_NEAR(std::stod(runs[1].at(step)), std::stod(loss), 1e-5 * std::abs(std::stod(loss))) << "step " << step;

  TempDir dir("ttt_train_graph_fault");
  Result r = train("--config configs/tiny.yaml" + kSmall +
                       " run.device=cuda run.max_steps=8 run.log_freq=1 "
                       "run.nonfinite=skip run.cuda_graph=true run.run_dir=" +
                       (dir / "run"),
                   dir, "TTT_FAULT=nan_grad:5");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("step 5: non-finite loss or gradient, step skipped (1 so far)"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(dir / "run/metrics.jsonl").find("nan"), std::string::npos) << "a NaN reached the weights";
}

TEST(TttTrainConfig, AttentionRecomputeKey) {
  EXPECT_FALSE(parse_config("model: {width: 32}\n", "test").model.attention_recompute);
  EXPECT_TRUE(parse_config("model: {attention_recompute: true}\n", "test").model.attention_recompute);
}

// 30 steps of tiny.yaml with `key` set to `mode`, against the f32 run (the same seed and data): the
// logged losses must stay within `tolerance` (relative) and differ somewhere (else nothing was rounded).
void expect_close_to_f32(const std::string& key, const std::string& mode, double tolerance) {
  std::map<std::string, std::map<int, std::string>> runs;
  for (const std::string& m : {std::string("f32"), mode}) {
    TempDir dir("ttt_train_" + key.substr(key.find('.') + 1) + "_" + m);
    Result r = train("--config configs/tiny.yaml run.max_steps=30 " + key + "=" + m + " run.run_dir=" + (dir / "run") + kSmall +
                         " run.log_freq=5",
                     dir);
    ASSERT_EQ(r.code, 0) << r.output;
    runs[m] = losses(dir / "run/metrics.jsonl");
    ASSERT_EQ(runs[m].size(), 6u) << m;
  }
  bool differs = false;
  for (const auto& [step, loss] : runs["f32"]) {
    const double want = std::stod(loss), got = std::stod(runs[mode].at(step));
    EXPECT_NEAR(got, want, tolerance * want) << key << "=" << mode << " step " << step;
    differs = differs || got != want;
  }
  EXPECT_TRUE(differs) << key << "=" << mode << " trained exactly like f32: was anything rounded?";
}

// The reduced-precision matrix products (run.matmul_precision; the CPU rounds the operands as the
// GPU's tensor cores do) train close to f32: the accuracy check of the tf32 and bf16 products.
// Seen: tf32 within 3e-5 and bf16 within 2e-4 of f32's loss over 60 steps (relative).
TEST(TttTrain, ReducedPrecisionProductsTrainCloseToF32) {
  expect_close_to_f32("run.matmul_precision", "tf32", 2e-4);
  expect_close_to_f32("run.matmul_precision", "bf16", 1e-3);
}

// ttt.scan_precision rounds the fused scan's products only (tiny.yaml runs the fused scan; on the
// CPU its executor rounds the operands as the tensor-core kernels do): the same accuracy check.
TEST(TttTrain, ReducedPrecisionScanTrainsCloseToF32) {
  expect_close_to_f32("ttt.scan_precision", "tf32", 2e-4);
  expect_close_to_f32("ttt.scan_precision", "bf16", 1e-3);
}

// run.activations=bf16 (bf16 activations and products, f32 master weights, optimizer state and TTT
// inner loop) trains close to f32: the accuracy check of the bf16 mode.
TEST(TttTrain, Bf16ActivationsTrainCloseToF32) { expect_close_to_f32("run.activations", "bf16", 5e-3); }

TEST(TttTrain, KeepsTheLastKCheckpoints) {
  TempDir dir("ttt_train_keep");
  Result r = train(
      "--config configs/tiny.yaml run.max_steps=8 run.ckpt_freq=2 run.num_ckpt_keep=2 run.run_dir=" + (dir / "run") + kSmall,
      dir);
  ASSERT_EQ(r.code, 0) << r.output;
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(dir / "run/checkpoints")) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"step_00000006", "step_00000008"}));
}

// Byte-level text and a two-stream token file (text + one audio stream) train end to end.
TEST(TttTrain, TextAndTokenFileSources) {
  TempDir dir("ttt_train_data");
  std::string text;
  for (int i = 0; i < 200; ++i) text += "the quick brown fox jumps over the lazy dog " + std::to_string(i) + "\n";
  std::ofstream(dir / "book.txt") << text;
  Result t = train("--config configs/tiny.yaml run.max_steps=4 data.source=text data.path=" + (dir / "book.txt") +
                       " model.text_vocab=256 run.run_dir=" + (dir / "text") + kSmall,
                   dir);
  ASSERT_EQ(t.code, 0) << t.output;
  EXPECT_NE(t.output.find("text file"), std::string::npos) << t.output;

  TokenFile f;
  f.num_streams = 2;
  for (uint32_t i = 0; i < 3000; ++i) {
    f.tokens.push_back((i * 7) % 32);  // text stream, vocab 32
    f.tokens.push_back((i * 3) % 10);  // audio stream, vocab 10
  }
  write_token_file(dir / "two.tok", f);
  Result k = train("--config configs/tiny.yaml run.max_steps=4 data.source=tokens data.path=" + (dir / "two.tok") +
                       " model.audio_streams=1 model.audio_vocab=10 run.run_dir=" + (dir / "tok") + kSmall,
                   dir);
  ASSERT_EQ(k.code, 0) << k.output;
  EXPECT_NE(k.output.find("3000 steps x 2 stream(s)"), std::string::npos) << k.output;
  // a token outside its stream's vocab is refused with its place
  Result bad = train("--config configs/tiny.yaml data.source=tokens data.path=" + (dir / "two.tok") +
                         " model.audio_streams=1 model.audio_vocab=5 run.run_dir=" + (dir / "tok2") + kSmall,
                     dir);
  EXPECT_EQ(bad.code, 1) << bad.output;
  EXPECT_NE(bad.output.find("of stream 1 at step"), std::string::npos) << bad.output;
}

// data.delays shifts stream s right by delays[s] steps in inputs and targets alike (Moshi's
// acoustic delay); the undelayed stream is untouched.
TEST(TokenData, DelaysShiftStreams) {
  TempDir dir("ttt_delays");
  TokenFile f;
  f.num_streams = 2;
  for (uint32_t i = 0; i < 500; ++i) f.tokens.insert(f.tokens.end(), {i % 64, i % 64});
  write_token_file(dir / "d.tok", f);
  TrainConfig c = parse_config(
      "model: {text_vocab: 64, audio_streams: 1, audio_vocab: 64}\n"
      "data: {source: tokens, path: " +
          (dir / "d.tok") +
          ", delays: [0, 2]}\n"
          "run: {batch_size: 3, seq_len: 8}\n",
      "test");
  Batch batch = make_data(c)->batch(5, false);
  auto in = batch.inputs.to_vector<int64_t>(), tg = batch.targets.to_vector<int64_t>();
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t t = 0; t < 8; ++t) {
      const int64_t at = (b * 8 + t) * 2;
      EXPECT_EQ(tg[at], (in[at] + 1) % 64) << "stream 0 predicts the next step";
      if (t >= 2) {
        EXPECT_EQ(in[at + 1], in[(b * 8 + t - 2) * 2]) << "stream 1 shows the token of two steps earlier";
      }
      EXPECT_EQ(tg[at + 1], (in[at + 1] + 1) % 64);
    }
  EXPECT_THROW(parse_config("data: {source: recall, delays: [1]}\n", "test"), Error);
}

TEST(TttTokens, ConvertsTextAndDescribesFiles) {
  TempDir dir("ttt_tokens_tool");
  std::ofstream(dir / "in.txt") << "hello tokens\n";
  const std::string exe = ttt::testing::tokens_exe();
  ASSERT_EQ(std::system((exe + " from-text " + (dir / "in.txt") + " " + (dir / "out.tok") + " > /dev/null").c_str()), 0);
  TokenFile f = read_token_file(dir / "out.tok");
  EXPECT_EQ(f.num_streams, 1);
  EXPECT_EQ(f.tokens, (std::vector<uint32_t>{'h', 'e', 'l', 'l', 'o', ' ', 't', 'o', 'k', 'e', 'n', 's', '\n'}));
  EXPECT_NE(std::system((exe + " info " + (dir / "in.txt") + " 2> /dev/null").c_str()), 0) << "a text file is not a token file";
}

// Stopping after step 6 and resuming gives, bit for bit, the losses of a run that never stopped.
TEST(TttTrain, ResumeIsExact) {
  TempDir dir("ttt_train_resume");
  const std::string common = "--config configs/tiny.yaml run.max_steps=12 run.ckpt_freq=4" + kSmall;
  Result whole = train(common + " run.run_dir=" + (dir / "whole"), dir);
  ASSERT_EQ(whole.code, 0) << whole.output;
  Result first = train(common + " run.stop_at_step=6 run.run_dir=" + (dir / "split"), dir);
  ASSERT_EQ(first.code, 0) << first.output;
  EXPECT_EQ(losses(dir / "split/metrics.jsonl").size(), 3u);
  Result rest = train("--resume " + (dir / "split"), dir);
  ASSERT_EQ(rest.code, 0) << rest.output;
  EXPECT_NE(rest.output.find("step_00000006 (step 6)"), std::string::npos) << rest.output;
  auto a = losses(dir / "whole/metrics.jsonl"), b = losses(dir / "split/metrics.jsonl");
  ASSERT_EQ(a.size(), 6u);
  EXPECT_EQ(a, b) << "losses after resuming differ from the uninterrupted run";
}

// The real config: Moshi 7B as the official package counts it (on the meta device, recorded in the
// fixture's metadata) plus five causal TTT-MultiLayer branches, the only trainable part
// (docs/spec/TTT_SPEC.md section 7 less the reversed branch's gate, plus the causal token bias).
TEST(TttTrain, Moshi7bDryRunReconciles) {
  TempDir dir("ttt_train_dry");
  Result r = train("--config configs/moshi7b_ttt_multilayer.yaml --dry-run", dir);
  ASSERT_EQ(r.code, 0) << r.output;
  const nn::SafetensorsData fixture =
      nn::load_safetensors(testing::source_dir() + "/tests/fixtures/moshi_7b_options.safetensors");
  ASSERT_TRUE(fixture.metadata.count("moshi_7b_parameters")) << "regenerate the fixture (tools/reference/make_moshi_fixtures.py)";
  const int64_t package = std::stoll(fixture.metadata.at("moshi_7b_parameters"));
  EXPECT_NE(r.output.find("Moshi part: " + nn::with_commas(package) + " parameters"), std::string::npos)
      << "the package counts " << package << "\n"
      << r.output;
  EXPECT_NE(r.output.find("TTT branches: 398,848,480"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("trainable 398,848,480 of " + nn::with_commas(package + 398848480)), std::string::npos) << r.output;
  // the source project's non-causal layout (a reversed branch per layer, full mini-batches) on the
  // same Moshi: the spec's section 7 figure, to the unit
  Result seed = train(
      "--config configs/moshi7b_ttt_multilayer.yaml --dry-run model.causal=false model.bidirectional=true "
      "ttt.minibatch_mode=full trainable.expected_trainable=398868640",
      dir);
  ASSERT_EQ(seed.code, 0) << seed.output;
  EXPECT_NE(seed.output.find("trainable 398,868,640 of " + nn::with_commas(package + 398868640)), std::string::npos)
      << seed.output;
  EXPECT_NE(r.output.find("ttt (TTTMultiLayer)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("nothing was allocated"), std::string::npos) << r.output;
}

struct BadCase {
  std::string name, yaml, args;
  std::vector<std::string> fragments;
};

TEST(TttTrain, BadConfigsExitWithAClearMessage) {
  TempDir dir("ttt_train_bad");
  const std::vector<BadCase> cases = {
      {"unknown_key", "model:\n  width: 32\n  widht: 64\n", "", {"model.widht (line 3:3): unknown key 'widht'"}},
      {"wrong_type", "run:\n  max_steps: many\n", "", {"run.max_steps (line 2:14): expected an integer, got 'many'"}},
      {"out_of_range", "optim:\n  lr: -1\n", "", {"optim.lr (line 2:7)", "out of range"}},
      {"empty", "", "", {"the file is empty"}},
      {"truncated", "model: {width: 32, num_layers: 2\n", "", {"not valid YAML at line"}},
      {"missing_data_file",
       "data:\n  source: text\n  path: /no/such/file.txt\n",
       "",
       {"cannot read the text file '/no/such/file.txt'", "data.path"}},
      {"unknown_section", "modle:\n  width: 3\n", "", {"modle (line 1:1): unknown section 'modle'"}},
      {"several_at_once", "model:\n  width: 0\nrun:\n  batch_size: x\n", "", {"2 problem(s)", "model.width", "run.batch_size"}},
      {"causal_full_mode",
       "model:\n  hybrid_layers: [0]\nttt:\n  minibatch_mode: full\n",
       "",
       {"a causal stack needs ttt.minibatch_mode: causal"}},
      {"bad_override", "run:\n  max_steps: 5\n", "run.max_steps=abc", {"run.max_steps (command line): expected an integer"}},
      {"cuda_graph_microbatches",
       "run:\n  cuda_graph: true\n  num_microbatches: 2\n",
       "",
       {"run.cuda_graph (line 2:", "set run.num_microbatches to 1"}},
      {"cuda_graph_on_cpu", "run:\n  cuda_graph: true\n  device: cpu\n", "", {"run.cuda_graph: needs a CUDA device"}},
      {"policy_rule_matches_nothing",
       "trainable:\n  rules:\n    - {name: '**.w1', train: true}\n",
       "",
       {"rule 0 (train name '**.w1') matches no parameter"}},
  };
  for (const BadCase& bc : cases) {
    std::ofstream(dir / (bc.name + ".yaml")) << bc.yaml;
    Result r =
        train("--config " + (dir / (bc.name + ".yaml")) + " run.run_dir=" + (dir / ("run_" + bc.name)) + " " + bc.args, dir);
    EXPECT_GE(r.code, 1) << bc.name << ": " << r.output;
    EXPECT_LE(r.code, 127) << bc.name << ": " << r.output;
    for (const auto& f : bc.fragments)
      EXPECT_NE(r.output.find(f), std::string::npos) << bc.name << ": missing '" << f << "' in\n" << r.output;
    EXPECT_EQ(r.output.find("terminate called"), std::string::npos) << bc.name;
    EXPECT_FALSE(fs::exists(dir / ("run_" + bc.name) + "/checkpoints")) << bc.name << " left a checkpoint behind";
  }
  Result missing = train("--config " + (dir / "does_not_exist.yaml"), dir);
  EXPECT_EQ(missing.code, 1) << missing.output;
  EXPECT_NE(missing.output.find("cannot read"), std::string::npos) << missing.output;
  Result usage = train("--bogus", dir);
  EXPECT_EQ(usage.code, 2) << usage.output;
}

TEST(TokenFiles, RoundTripAndCorruptionAreHandled) {
  TempDir dir("ttt_tokens");
  TokenFile f;
  f.num_streams = 2;
  for (uint32_t i = 0; i < 20; ++i) f.tokens.push_back(i * 3);
  write_token_file(dir / "a.tok", f);
  TokenFile g = read_token_file(dir / "a.tok");
  EXPECT_EQ(g.num_streams, 2);
  EXPECT_EQ(g.tokens, f.tokens);
  std::string bytes = read(dir / "a.tok");
  std::ofstream(dir / "cut.tok", std::ios::binary) << bytes.substr(0, bytes.size() - 1);
  EXPECT_THROW(read_token_file(dir / "cut.tok"), Error);
  std::ofstream(dir / "magic.tok", std::ios::binary) << "NOTATOKENFILE" + bytes.substr(13);
  EXPECT_THROW(read_token_file(dir / "magic.tok"), Error);
  // a file named on a command line (ttt-generate --prompt-tokens): the message names it, and no
  // config key (data.path names the training data's file)
  try {
    read_token_file(dir / "missing.tok");
    ADD_FAILURE() << "a missing file was read";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cannot read the token file '" + (dir / "missing.tok") + "'"), std::string::npos) << what;
    EXPECT_EQ(what.find("data.path"), std::string::npos) << what;
  }
  // "no token" is the width's all-ones value, both ways, in both widths; 0xFFFF is no 2-byte token
  f.tokens[3] = kNoTokenCode;
  for (int width : {2, 4}) {
    write_token_file(dir / "none.tok", f, width);
    EXPECT_EQ(read_token_file(dir / "none.tok").tokens, f.tokens) << width;
  }
  EXPECT_EQ(read(dir / "none.tok").substr(32 + 3 * 4, 4), std::string(4, '\xff'));
  f.tokens[3] = 0xffffu;
  EXPECT_THROW(write_token_file(dir / "none.tok", f, 2), Error);
}

// Moshi's "no token" in a token file: the inputs read it as -1 (a zero embedding), the targets as
// the stream's pad id (no target); the loss stays finite and counts the other targets.
TEST(TokenData, NoTokenIsNoInputAndNoTarget) {
  TempDir dir("ttt_no_token");
  TokenFile f;
  f.num_streams = 2;
  for (uint32_t i = 0; i < 300; ++i) f.tokens.insert(f.tokens.end(), {i % 64, (i % 64) % 3 == 0 ? kNoTokenCode : i % 64});
  write_token_file(dir / "n.tok", f);
  TrainConfig c = parse_config(
      "model: {text_vocab: 64, audio_streams: 1, audio_vocab: 64, width: 16, num_heads: 2, num_layers: 1}\n"
      "data: {source: tokens, path: " +
          (dir / "n.tok") + "}\nrun: {batch_size: 2, seq_len: 9}\n",
      "test");
  Batch batch = make_data(c)->batch(0, false);
  auto in = batch.inputs.to_vector<int64_t>(), tg = batch.targets.to_vector<int64_t>();
  int64_t none_in = 0, none_target = 0;
  for (size_t at = 0; at < in.size(); at += 2) {
    const int64_t step = in[at];  // stream 0 counts the steps (mod 64)
    EXPECT_EQ(in[at + 1], step % 3 == 0 ? -1 : step) << at;
    const int64_t next = tg[at];
    EXPECT_EQ(tg[at + 1], next % 3 == 0 ? c.model.pad_id(1) : next) << at;
    none_in += in[at + 1] == -1;
    none_target += tg[at + 1] == c.model.pad_id(1);
  }
  EXPECT_GT(none_in, 0);
  EXPECT_GT(none_target, 0);
  Generator gen(0);
  HybridLM model(c.model, gen, Device::cpu());
  EXPECT_TRUE(std::isfinite(model.loss(batch.inputs, batch.targets).total.item<double>()));
}

}  // namespace
}  // namespace ttt
