// ttt-generate end to end: after configs/tiny.yaml trains, greedy generation answers the recall
// queries exactly as often as the training's evaluation says; a seed repeats a generation; a
// Moshi-shaped run generates every stream and writes them undelayed.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/device.h"
#include "nn/precision.h"
#include "tests/test_paths.h"
#include "tests/train/train_runner.h"
#include "train/data.h"
#include "train/generate.h"
#include "train/text_tokenizer.h"

namespace ttt {
namespace {

using testing::TempDir;

using testing::generate_exe;

TEST(Generate, GreedyAnswersTheRecallQueriesAsTheEvalSays) {
  TempDir dir("generate_recall");
  testing::RunResult t = testing::run_train(
      "--config configs/tiny.yaml run.max_steps=250 run.eval_freq=0 run.run_dir=" + (dir / "run") + testing::kSmallRun, dir);
  ASSERT_EQ(t.code, 0) << t.output;
  // the final evaluation's accuracy
  const size_t at = t.output.find("eval at step 250: loss ");
  ASSERT_NE(at, std::string::npos) << t.output;
  const std::string eval_accuracy = t.output.substr(t.output.find("accuracy ", at) + 9, 5);
  testing::RunResult g = testing::run_tool(generate_exe(), (dir / "run") + " --recall 1", dir);  // kSmallRun: eval_batches 1
  ASSERT_EQ(g.code, 0) << g.output;
  const size_t acc = g.output.find("(accuracy ");
  ASSERT_NE(acc, std::string::npos) << g.output;
  // the training prints 3 decimals, ttt-generate 4
  EXPECT_NEAR(std::stod(g.output.substr(acc + 10, 6)), std::stod(eval_accuracy), 0.0005 + 1e-9) << g.output << "\n" << t.output;
  EXPECT_NE(g.output.find("evaluation on the same batches: " + g.output.substr(acc + 10, 6)), std::string::npos) << g.output;
}

TEST(Generate, ASeedRepeatsAGenerationAndTheOutputIsUndelayed) {
  TempDir dir("generate_moshi");
  // a small two-audio-stream model with delays, trained a few steps on random tokens
  TokenFile tokens;
  tokens.num_streams = 3;
  for (int i = 0; i < 300 * 3; ++i) tokens.tokens.push_back(static_cast<uint32_t>((i * 7 + i / 3) % (i % 3 == 0 ? 20 : 9)));
  write_token_file(dir / "t.tok", tokens);
  const std::string yaml =
      "model: {width: 32, num_layers: 2, num_heads: 4, hybrid_layers: [1], text_vocab: 20, audio_streams: 2, "
      "audio_vocab: 9}\nttt: {variant: linear, mini_batch_size: 4}\ndata: {source: tokens, path: " +
      (dir / "t.tok") + ", delays: [0, 1, 2]}\nrun: {run_dir: " + (dir / "run") +
      ", device: cpu, max_steps: 3, batch_size: 2, seq_len: 16, eval_batches: 1}\n";
  std::ofstream(dir / "m.yaml") << yaml;
  ASSERT_EQ(testing::run_train("--config " + (dir / "m.yaml"), dir).code, 0);
  auto gen = [&](const std::string& args) { return testing::run_tool(generate_exe(), (dir / "run") + " " + args, dir); };
  testing::RunResult a = gen("--steps 12 --seed 5 --out " + (dir / "a.tok")),
                     b = gen("--steps 12 --seed 5 --out " + (dir / "b.tok"));
  testing::RunResult c = gen("--steps 12 --seed 6");
  ASSERT_EQ(a.code, 0) << a.output;
  ASSERT_EQ(b.code, 0) << b.output;
  EXPECT_EQ(testing::read_file(dir / "a.tok"), testing::read_file(dir / "b.tok"));
  const TokenFile out = read_token_file(dir / "a.tok");
  EXPECT_EQ(out.num_streams, 3);
  // 13 positions (the initial step, 12 generated) less the largest delay, less step 0 (its text is the initial token)
  EXPECT_EQ(out.num_steps(), 13 - 2 - 1);
  for (size_t i = 0; i < out.tokens.size(); ++i) EXPECT_LT(out.tokens[i], i % 3 == 0 ? 20u : 9u) << i;
  EXPECT_NE(a.output.substr(a.output.find('\n') + 1), c.output.substr(c.output.find('\n') + 1));
  // undelay: stream s at step t is position t + delay
  const Tensor seq = from_vector({0, 10, 20, 1, 11, 21, 2, 12, 22, 3, 13, 23}, {1, 4, 3}, DType::i64);
  EXPECT_EQ(undelay(seq, {0, 1, 2}).to_vector<int64_t>(), (std::vector<int64_t>{0, 11, 22, 1, 12, 23}));
}

using testing::eval_exe;

// ttt-eval computes what ttt-train's evaluation computed (the same code, the same batches), adds
// the loss by position, writes JSON, and takes a held-out text file with bits per byte.
TEST(Eval, ReportsTheTrainingsEvaluationAndTheLossByPosition) {
  TempDir dir("eval_runs");
  testing::RunResult t = testing::run_train(
      "--config configs/tiny.yaml run.max_steps=40 run.eval_freq=0 run.run_dir=" + (dir / "run") + testing::kSmallRun, dir);
  ASSERT_EQ(t.code, 0) << t.output;
  const size_t at = t.output.find("eval at step 40: loss ");
  ASSERT_NE(at, std::string::npos) << t.output;
  const std::string loss = t.output.substr(at + 22, 6);
  testing::RunResult e = testing::run_tool(eval_exe(), (dir / "run") + " " + (dir / "run") + " --json " + (dir / "e.json"), dir);
  ASSERT_EQ(e.code, 0) << e.output;
  EXPECT_NE(e.output.find("(step 40): loss " + loss), std::string::npos) << e.output << "\ntraining: " << t.output;
  const nlohmann::json report = nlohmann::json::parse(testing::read_file(dir / "e.json"));
  ASSERT_EQ(report["runs"].size(), 2u);
  EXPECT_EQ(report["runs"][0]["loss"], report["runs"][1]["loss"]);  // deterministic
  EXPECT_NEAR(report["runs"][0]["loss_parts"]["stream 0"].get<double>(), report["runs"][0]["loss"].get<double>(), 1e-9);
  const auto& by_position = report["runs"][0]["loss_by_position"];
  EXPECT_FALSE(by_position["loss"].empty());
  EXPECT_EQ(by_position["loss"].size(), by_position["position"].size());

  // a byte-level text run: bits per byte, and a held-out file read whole
  std::string text;
  for (int i = 0; i < 400; ++i) text += "the quick brown fox jumps over the lazy dog " + std::to_string(i % 7) + "\n";
  std::ofstream(dir / "train.txt") << text;
  std::ofstream(dir / "heldout.txt") << text.substr(0, 3000);
  testing::RunResult tt =
      testing::run_train("--config configs/tiny.yaml run.max_steps=20 data.source=text data.path=" + (dir / "train.txt") +
                             " model.text_vocab=256 run.run_dir=" + (dir / "text") + testing::kSmallRun,
                         dir);
  ASSERT_EQ(tt.code, 0) << tt.output;
  testing::RunResult te =
      testing::run_tool(eval_exe(), (dir / "text") + " --data " + (dir / "heldout.txt") + " --batches 2", dir);
  ASSERT_EQ(te.code, 0) << te.output;
  EXPECT_NE(te.output.find("bits per byte"), std::string::npos) << te.output;
  EXPECT_NE(te.output.find("heldout.txt"), std::string::npos) << te.output;
  testing::RunResult g = testing::run_tool(generate_exe(), (dir / "text") + " --prompt 'the quick' --steps 8 --greedy", dir);
  ASSERT_EQ(g.code, 0) << g.output;
  EXPECT_NE(g.output.find("the quick"), std::string::npos) << g.output;  // the prompt, then 8 bytes
}

// The SentencePiece tokenizer encodes as the official library does (tests/fixtures/spm_tiny.json,
// from tools/reference/make_spm_fixture.py) and shows ids as their text.
TEST(TextTokenizer, EncodesAsTheOfficialLibrary) {
  const std::string fixtures = ttt::testing::source_dir() + "/tests/fixtures/";
  const TextTokenizer tok(fixtures + "spm_tiny.model");
  std::ifstream in(fixtures + "spm_tiny.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(tok.num_pieces(), j.at("pieces").get<int64_t>());
  for (const auto& c : j.at("cases")) {
    const std::vector<int64_t> ids = tok.encode(c.at("text").get<std::string>());
    EXPECT_EQ(ids, c.at("ids").get<std::vector<int64_t>>()) << c.at("text");
    std::string shown;
    for (int64_t id : ids) shown += tok.show(id);
    EXPECT_EQ(shown, " " + c.at("text").get<std::string>());
  }
  EXPECT_EQ(tok.show(tok.num_pieces()), "");  // the pad / initial token
  EXPECT_EQ(tok.show(2, {2}), "");            // hidden (Moshi's text padding)
  EXPECT_THROW(TextTokenizer(fixtures + "spm_tiny.json"), Error);
  EXPECT_THROW(TextTokenizer(fixtures + "no_such.model"), Error);
}

// ttt-generate --tokenizer: the prompt's text tokens go in one a step after the initial step (the
// other stream says nothing), and the text comes out as text.
TEST(Generate, ATokenizerEncodesThePromptAndShowsTheText) {
  TempDir dir("generate_spm");
  const std::string fixtures = ttt::testing::source_dir() + "/tests/fixtures/";
  std::ofstream(dir / "m.yaml") << "model: {width: 32, num_layers: 2, num_heads: 4, hybrid_layers: [1], text_vocab: 64, "
                                   "audio_streams: 1, audio_vocab: 9}\nttt: {variant: linear, mini_batch_size: 4}\n"
                                   "data: {source: tokens, path: none.tok}\nrun: {device: cpu}\n";
  const std::string base = "--config " + (dir / "m.yaml") + " --tokenizer " + fixtures + "spm_tiny.model --greedy --steps 4 ";
  testing::RunResult r = testing::run_tool(generate_exe(), base + "--prompt 'hello world' --out " + (dir / "o.tok"), dir);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("\n hello world"), std::string::npos) << r.output;
  const TokenFile out = read_token_file(dir / "o.tok");
  const std::vector<uint32_t> hello = {1, 2, 4, 4, 9, 16, 9, 15, 4, 10};  // spm_tiny.json's "hello world"
  ASSERT_GE(out.num_steps(), static_cast<int64_t>(hello.size()));
  for (size_t t = 0; t < hello.size(); ++t) {
    EXPECT_EQ(out.tokens[2 * t], hello[t]) << t;
    EXPECT_EQ(out.tokens[2 * t + 1], kNoTokenCode) << t;
  }
  r = testing::run_tool(generate_exe(), base + "--prompt hello --tokenizer " + (dir / "m.yaml"), dir);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("is not a SentencePiece model"), std::string::npos) << r.output;
  std::ofstream(dir / "small.yaml") << "model: {width: 32, num_layers: 1, num_heads: 4, text_vocab: 20}\n"
                                       "data: {source: tokens, path: none.tok}\nrun: {device: cpu}\n";
  r = testing::run_tool(generate_exe(),
                        "--config " + (dir / "small.yaml") + " --tokenizer " + fixtures + "spm_tiny.model --prompt hello", dir);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("has 48 pieces but the text stream's vocab is 20"), std::string::npos) << r.output;
}

// key.path=value words after --config override the file's values, as ttt-train's do: the text
// vocab raised to the tokenizer's 48 pieces makes the model that the plain file's 20 refuses. A
// misspelt key is named with its suggestion; a run dir takes no overrides (its checkpoint fixes
// the model).
TEST(Generate, ConfigOverridesChangeTheModel) {
  TempDir dir("generate_overrides");
  const std::string fixtures = ttt::testing::source_dir() + "/tests/fixtures/";
  std::ofstream(dir / "small.yaml") << "model: {width: 32, num_layers: 1, num_heads: 4, text_vocab: 20}\n"
                                       "data: {source: tokens, path: none.tok}\nrun: {device: cpu}\n";
  const std::string base =
      "--config " + (dir / "small.yaml") + " --tokenizer " + fixtures + "spm_tiny.model --prompt hello --steps 2 ";
  testing::RunResult r = testing::run_tool(generate_exe(), base + "model.text_vocab=48", dir);
  EXPECT_EQ(r.code, 0) << r.output;
  r = testing::run_tool(generate_exe(), base, dir);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("text stream's vocab is 20"), std::string::npos) << r.output;
  r = testing::run_tool(generate_exe(), base + "model.text_vocab=48 model.widht=64", dir);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("unknown key 'widht' (did you mean 'width'?)"), std::string::npos) << r.output;
  r = testing::run_tool(generate_exe(), (dir / "nothing") + " model.width=64", dir);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("'model.width=64': key=value overrides apply to a --config file"), std::string::npos) << r.output;
}

// On a GPU the generated steps replay a CUDA graph: the tokens must be the eager steps' exactly
// (same kernels on the same inputs), for a Moshi-shaped model with a depformer and a TTT branch
// whose mini-batches commit several times, in f32 and in ttt-generate's bf16 mode, with a prompt.
TEST(Generate, ACudaGraphGivesTheEagerStepsTokens) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU visible (run test_train on the device machine)";
  ModelConfig c;
  c.width = 64;
  c.num_layers = 2;
  c.num_heads = 4;
  c.ffn_hidden = 96;
  c.hybrid_layers = {1};
  c.text_vocab = 40;
  c.audio_streams = 4;
  c.audio_vocab = 30;
  c.context = 7;  // shorter than the generation: the KV ring wraps
  c.audio_head = AudioHead::depformer;
  c.depformer.dim = 32;
  c.depformer.num_layers = 2;
  c.depformer.num_heads = 2;
  c.depformer.ffn_hidden = 48;
  c.depformer.steps = 2;
  c.depformer.context = 2;
  c.ttt.variant = TTTVariant::mlp;
  c.ttt.heads = 4;
  c.ttt.mini_batch_size = 4;
  c.gate_init = 0.8;
  for (bool bf16 : {false, true}) {
    Generator gen(3);
    HybridLM model(c, gen, Device::cuda(0));
    if (bf16) weights_in_bf16_except_ttt(model);
    nn::ActivationScope activations(bf16 ? DType::bf16 : DType::f32);
    const Tensor prompt = from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, {1, 3, 5}, DType::i64);
    GenerateOptions o;
    o.steps = 21;
    o.seed = 11;
    o.cuda_graph = false;
    const Tensor eager = generate(model, prompt, o, Device::cuda(0));
    o.cuda_graph = true;
    const Tensor graph = generate(model, prompt, o, Device::cuda(0));
    EXPECT_EQ(graph.to_vector<int64_t>(), eager.to_vector<int64_t>()) << (bf16 ? "bf16" : "f32");
  }
}

TEST(Generate, BadInputIsRefusedClearly) {
  TempDir dir("generate_bad");
  testing::RunResult r = testing::run_tool(generate_exe(), (dir / "nothing") + " --steps 3", dir);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("is not a run directory made by ttt-train"), std::string::npos) << r.output;
  r = testing::run_tool(generate_exe(), (dir / "nothing") + " --stpes 3", dir);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("unknown flag '--stpes'"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace ttt
