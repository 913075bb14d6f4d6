// ttt-generate end to end: after configs/tiny.yaml trains, greedy generation answers the recall
// queries exactly as often as the training's evaluation says; a seed repeats a generation; a
// Moshi-shaped run generates every stream and writes them undelayed.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/train/train_runner.h"
#include "train/data.h"
#include "train/generate.h"

namespace ttt {
namespace {

using testing::TempDir;

std::string generate_exe() {
  const char* env = std::getenv("TTT_GENERATE_EXE");
  return env && *env ? env : TTT_GENERATE_EXE;
}

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
