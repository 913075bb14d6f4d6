// Nothing a user owns is lost: run directories are only ever replaced when ttt-train made them,
// a run dir is locked while a process uses it, SIGINT/SIGTERM/SIGHUP end a run with a checkpoint,
// and resumes are checked. Each test drives the real executables as child processes.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "tests/train/train_runner.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/memory_estimate.h"

namespace ttt::testing {
namespace {

namespace fs = std::filesystem;

const std::string kTiny = "--config configs/tiny.yaml" + kSmallRun;
// long enough that a signal always arrives mid-run (each step is ~1 ms here)
const std::string kLong = kTiny + " run.max_steps=200000 run.log_freq=5";

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

class StopSignal : public ::testing::TestWithParam<int> {};

TEST_P(StopSignal, FinishesTheStepWritesACheckpointAndSaysHowToResume) {
  const int sig = GetParam();
  TempDir dir("stop_signal_" + std::to_string(sig));
  Child c = spawn_tool(train_exe(), kLong + " run.run_dir=" + (dir / "run"), dir / "out.txt");
  ASSERT_TRUE(wait_for_output(c, "step 10/")) << read_file(c.log);
  ASSERT_EQ(::kill(c.pid, sig), 0);
  EXPECT_EQ(wait_exit(c), 128 + sig) << read_file(c.log);
  const std::string out = read_file(c.log);
  EXPECT_NE(out.find("Continue with: ttt-train --resume " + (dir / "run")), std::string::npos) << out;
  auto last = latest_checkpoint(dir / "run");
  ASSERT_TRUE(last.has_value()) << out;
  const int64_t step = read_trainer_state(*last).step;
  EXPECT_GE(step, 10);
  EXPECT_NE(out.find("after step " + std::to_string(step) + "; checkpoint"), std::string::npos) << out;
  // the log file holds the same end as stdout, and the metrics reach the stop
  const std::string log = read_file(dir / "run/train.log");
  EXPECT_NE(log.find("after step " + std::to_string(step) + "; checkpoint"), std::string::npos) << log;
  EXPECT_NE(read_file(dir / "run/metrics.jsonl").find("\"step\":10,"), std::string::npos);
  // and the run continues from there
  RunResult resumed = run_train("--resume " + (dir / "run") + " run.max_steps=" + std::to_string(step + 4), dir);
  EXPECT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("(step " + std::to_string(step) + ")"), std::string::npos) << resumed.output;
}

INSTANTIATE_TEST_SUITE_P(
    Signals, StopSignal, ::testing::Values(SIGINT, SIGTERM, SIGHUP), [](const ::testing::TestParamInfo<int>& signal_info) {
      return std::string(signal_info.param == SIGINT ? "SIGINT" : signal_info.param == SIGTERM ? "SIGTERM" : "SIGHUP");
    });

TEST(StopSignal, ASecondSignalExitsAtOnceAndLosesNoCheckpoint) {
  TempDir dir("stop_signal_twice");
  Child c = spawn_tool(train_exe(), kLong + " run.ckpt_freq=5 run.run_dir=" + (dir / "run"), dir / "out.txt");
  ASSERT_TRUE(wait_for_output(c, "step 20/")) << read_file(c.log);
  ::kill(c.pid, SIGINT);
  ::kill(c.pid, SIGINT);
  EXPECT_EQ(wait_exit(c), 128 + SIGINT) << read_file(c.log);
  auto last = latest_checkpoint(dir / "run");
  ASSERT_TRUE(last.has_value());
  RunResult resumed =
      run_train("--resume " + (dir / "run") + " run.max_steps=" + std::to_string(read_trainer_state(*last).step + 2), dir);
  EXPECT_EQ(resumed.code, 0) << resumed.output;
}

TEST(RunDirLock, ASecondProcessIsRefusedWithTheHoldersPid) {
  TempDir dir("run_dir_lock");
  Child c = spawn_tool(train_exe(), kLong + " run.run_dir=" + (dir / "run"), dir / "out.txt");
  ASSERT_TRUE(wait_for_output(c, "step 5/")) << read_file(c.log);
  const std::string in_use = "is in use by another ttt-train process (pid " + std::to_string(c.pid) + ")";
  RunResult resume = run_train("--resume " + (dir / "run"), dir);
  EXPECT_EQ(resume.code, 1) << resume.output;
  EXPECT_NE(resume.output.find(in_use), std::string::npos) << resume.output;
  RunResult replace = run_train(kTiny + " run.existing_run_dir=move_aside run.run_dir=" + (dir / "run"), dir);
  EXPECT_EQ(replace.code, 1) << replace.output;
  EXPECT_NE(replace.output.find(in_use), std::string::npos) << replace.output;
  EXPECT_EQ(names_in(dir.path.string()), (std::vector<std::string>{"log.txt", "out.txt", "run"})) << "nothing moved aside";
  ::kill(c.pid, SIGKILL);  // the kernel releases the lock of a process that dies
  EXPECT_EQ(wait_exit(c), 128 + SIGKILL);
  RunResult fresh = run_train(kTiny + " run.max_steps=3 run.existing_run_dir=move_aside run.run_dir=" + (dir / "run"), dir);
  EXPECT_EQ(fresh.code, 0) << fresh.output;
}

TEST(RunDirLock, TwoRunsStartedTogetherOnOneFolderTrainOnce) {
  TempDir dir("run_dir_race");
  Child a = spawn_tool(train_exe(), kTiny + " run.max_steps=30 run.run_dir=" + (dir / "run"), dir / "a.txt");
  Child b = spawn_tool(train_exe(), kTiny + " run.max_steps=30 run.run_dir=" + (dir / "run"), dir / "b.txt");
  const int ca = wait_exit(a), cb = wait_exit(b);
  EXPECT_EQ(std::min(ca, cb), 0) << read_file(a.log) << read_file(b.log);
  EXPECT_EQ(std::max(ca, cb), 1) << read_file(a.log) << read_file(b.log);
  const std::string loser = read_file(ca == 1 ? a.log : b.log);
  EXPECT_TRUE(loser.find("in use by another ttt-train process") != std::string::npos ||
              loser.find("holds an earlier run") != std::string::npos || loser.find("at the same moment") != std::string::npos)
      << loser;
  // one run's metrics, not two interleaved: every step logged once
  const std::string metrics = read_file(dir / "run/metrics.jsonl");
  size_t count = 0;
  for (size_t at = metrics.find("\"step\":30,\"loss\""); at != std::string::npos;
       at = metrics.find("\"step\":30,\"loss\"", at + 1))
    ++count;
  EXPECT_EQ(count, 1u) << metrics;
}

TEST(RunDir, MoveAsideKeepsTheEarlierRunAndDeleteRemovesOnlyOurs) {
  TempDir dir("run_dir_replace");
  const std::string run = " run.max_steps=3 run.run_dir=" + (dir / "run");
  ASSERT_EQ(run_train(kTiny + run, dir).code, 0);
  const std::string first_metrics = read_file(dir / "run/metrics.jsonl");
  RunResult again = run_train(kTiny + run + " run.existing_run_dir=move_aside", dir);
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_NE(again.output.find("moved the earlier run"), std::string::npos) << again.output;
  std::string aside;
  for (const auto& n : names_in(dir.path.string()))
    if (n.rfind("run.old-", 0) == 0) aside = n;
  ASSERT_FALSE(aside.empty()) << "no run.old-<time> folder";
  EXPECT_EQ(read_file(dir / (aside + "/metrics.jsonl")), first_metrics) << "the earlier run must be intact";
  EXPECT_TRUE(fs::exists(dir / (aside + "/checkpoints/step_00000003/model.safetensors")));
  RunResult del = run_train(kTiny + run + " run.existing_run_dir=delete", dir);
  ASSERT_EQ(del.code, 0) << del.output;
  EXPECT_NE(del.output.find("deleted the earlier run"), std::string::npos) << del.output;
  EXPECT_TRUE(fs::exists(dir / (aside + "/metrics.jsonl"))) << "delete touches only the run it replaces";
}

TEST(RunDir, TheReadmeCommandRunsTwiceInARow) {
  // tools/setup.sh trains configs/tiny.yaml with run.existing_run_dir=move_aside: a second setup
  // must succeed and keep the first run
  TempDir dir("run_dir_readme");
  const std::string cmd = kTiny + " run.max_steps=3 run.existing_run_dir=move_aside run.run_dir=" + (dir / "runs/tiny");
  ASSERT_EQ(run_train(cmd, dir).code, 0);
  RunResult second = run_train(cmd, dir);
  ASSERT_EQ(second.code, 0) << second.output;
  EXPECT_EQ(names_in(dir / "runs").size(), 2u);
}

TEST(Resume, SafeChangesAreListedAndApplied) {
  TempDir dir("resume_safe_changes");
  ASSERT_EQ(run_train(kTiny + " run.max_steps=4 run.run_dir=" + (dir / "run"), dir).code, 0);
  RunResult r = run_train("--resume " + (dir / "run") + " run.max_steps=6 run.log_freq=1", dir);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("changed: run.max_steps: checkpoint 4, now 6"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("changed: run.log_freq: checkpoint 2, now 1"), std::string::npos) << r.output;
  RunResult lr = run_train("--resume " + (dir / "run") + " run.max_steps=8 optim.lr=5e-3", dir);
  EXPECT_EQ(lr.code, 1) << lr.output;
  EXPECT_NE(lr.output.find("optim.lr: checkpoint"), std::string::npos) << lr.output;
  RunResult allowed =
      run_train("--resume " + (dir / "run") + " run.max_steps=8 optim.lr=5e-3 --allow-config-change optim.lr", dir);
  EXPECT_EQ(allowed.code, 0) << allowed.output;
  EXPECT_NE(allowed.output.find("changed: optim.lr: checkpoint"), std::string::npos) << allowed.output;
}

// data.val_fraction 0 used to read past the token buffer at the final evaluation (a heap
// over-read); the ASan build of this test (ctest --preset asan) would abort on it.
TEST(Data, NoValidationSplitSkipsEvaluation) {
  TempDir dir("no_validation");
  std::string text;
  for (int i = 0; i < 300; ++i) text += "line " + std::to_string(i) + " of the book\n";
  std::ofstream(dir / "book.txt") << text;
  RunResult r = run_train(kTiny + " run.max_steps=4 data.source=text data.val_fraction=0 model.text_vocab=256 data.path=" +
                              (dir / "book.txt") + " run.run_dir=" + (dir / "run"),
                          dir);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("no evaluation: data.val_fraction is 0"), std::string::npos) << r.output;
}

TEST(Cli, HelpAndVersionGoToStdoutWithExitZero) {
  TempDir dir("cli_help");
  for (const std::string& exe : {train_exe(), probe_exe(), tokens_exe()}) {
    for (const std::string flag : {"--help", "--version"}) {
      RunResult r = run_tool(exe, flag + " 2>/dev/null", dir);
      EXPECT_EQ(r.code, 0) << exe << " " << flag << "\n" << r.output;
      EXPECT_NE(r.output.find(flag == "--help" ? "usage:" : "(commit "), std::string::npos) << exe << " " << flag << "\n"
                                                                                            << r.output;
    }
  }
}

TEST(Checkpoints, NewestIsFoundByStepNumberWhateverTheNameWidth) {
  TempDir dir("ckpt_order");
  for (const std::string name : {"step_00000009", "step_100000000", "step_00000010"}) {
    fs::create_directories(dir / ("run/checkpoints/" + name));
    std::ofstream(dir / ("run/checkpoints/" + name + "/trainer.json")) << "{}";
  }
  fs::create_directories(dir / "run/checkpoints/.step_200000000.tmp");
  fs::create_directories(dir / "run/checkpoints/step_x");
  EXPECT_EQ(fs::path(*latest_checkpoint(dir / "run")).filename(), "step_100000000");
}

TEST(DryRun, DepthShowsATttLayersOwnParts) {
  TempDir dir("dry_run_depth");
  RunResult r = run_train("--config configs/tiny.yaml --dry-run --depth 4", dir);
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* part : {"ttt (TTTMLP)", "W1 [4, 16, 32]", "b2 [4, 1, 16]", "learnable_ttt_lr_weight", "ttt_norm_weight",
                           "wq (Linear)", "memory estimate:"})
    EXPECT_NE(r.output.find(part), std::string::npos) << part << "\n" << r.output;
  // a multilayer inner model: its ParameterLists list weights.N / biases.N one level down
  RunResult multi =
      run_train("--config configs/tiny.yaml --dry-run --depth 5 ttt.variant=multilayer ttt.mlp_dims=[16,32,16]", dir);
  ASSERT_EQ(multi.code, 0) << multi.output;
  for (const char* part : {"weights (ParameterList)", "0 [4, 16, 32]", "1 [4, 32, 16]", "biases (ParameterList)", "1 [4, 1, 16]"})
    EXPECT_NE(multi.output.find(part), std::string::npos) << part << "\n" << multi.output;
  RunResult shallow = run_train("--config configs/tiny.yaml --dry-run --depth 2", dir);
  EXPECT_EQ(shallow.output.find("W1 ["), std::string::npos) << shallow.output;
}

}  // namespace
}  // namespace ttt::testing

namespace ttt {
namespace {

TEST(MemoryEstimate, MeasuresTheStepOnMetaAndRefusesOrWarns) {
  TrainConfig c = load_config(testing::source_dir() + "/configs/tiny.yaml");
  const MemoryEstimate e = estimate_training_memory(c);
  EXPECT_TRUE(e.step_measured);
  EXPECT_EQ(e.parameters, static_cast<uint64_t>(e.num_parameters) * 4);  // f32
  EXPECT_EQ(e.gradients, e.parameters);                                  // all trainable
  EXPECT_EQ(e.optimizer, 2 * e.parameters);                              // two moments
  EXPECT_GT(e.activations, 0u);
  // doubling the batch roughly doubles the activations, and leaves the rest
  c.run.batch_size *= 2;
  const MemoryEstimate twice = estimate_training_memory(c);
  EXPECT_EQ(twice.parameters, e.parameters);
  EXPECT_NEAR(static_cast<double>(twice.activations) / static_cast<double>(e.activations), 2.0, 0.2);
  EXPECT_EQ(check_memory_fits(e, e.total(), Device::cpu()), "");
  EXPECT_THROW(check_memory_fits(e, e.total() - 1, Device::cpu()), Error);
  EXPECT_NE(check_memory_fits(e, e.total() - 1, Device::cpu(), /*warn_only=*/true).find("warning: this run needs about"),
            std::string::npos);
}

// The breakdown --dry-run prints: the places add up to what the forward keeps, the TTT branch is
// one of them, and keeping fewer scan states (ttt.scan_checkpoint_group) shrinks its share only.
TEST(MemoryEstimate, SaysWhichModulesKeepTheActivations) {
  TrainConfig c = load_config(testing::source_dir() + "/configs/tiny.yaml");
  c.run.seq_len = 64;  // eight mini-batches of 8
  auto ttt_bytes = [](const MemoryEstimate& e) {
    int64_t sum = 0, ttt = -1;
    for (const memory_ledger::Entry& entry : e.kept_by_forward) {
      sum += entry.bytes;
      if (entry.where == "HybridLayer > TTTMLP") ttt = entry.bytes;
    }
    EXPECT_EQ(sum, static_cast<int64_t>(e.forward_kept));
    return ttt;
  };
  const MemoryEstimate all = estimate_training_memory(c);
  c.model.ttt.scan_checkpoint_group = 4;
  const MemoryEstimate grouped = estimate_training_memory(c);
  const int64_t ttt_all = ttt_bytes(all), ttt_grouped = ttt_bytes(grouped);
  EXPECT_GT(ttt_grouped, 0);
  EXPECT_LT(ttt_grouped, ttt_all / 2);
  const double saved = static_cast<double>(all.forward_kept - grouped.forward_kept);
  EXPECT_NEAR(static_cast<double>(ttt_all - ttt_grouped), saved, 0.01 * saved);
  EXPECT_NE(all.str().find("for backward, by module:\n"), std::string::npos) << all.str();
  EXPECT_NE(all.str().find("HybridLayer > TTTMLP (1 forward)"), std::string::npos) << all.str();
}

// A run on a GPU is sized along the CUDA paths (compute::MetaAsCuda): at head dim 64 attention runs
// the flash kernels in f32 too, so the estimate keeps no [B, H, S, S] weights, which the CPU's
// composed attention keeps in every layer.
TEST(MemoryEstimate, AGpuRunKeepsNoAttentionWeights) {
  TrainConfig c = load_config(testing::source_dir() + "/configs/tiny.yaml");
  c.model.num_heads = 1;  // head dim 64
  c.run.seq_len = 128;
  c.run.device = "cpu";
  const MemoryEstimate cpu = estimate_training_memory(c);
  c.run.device = "cuda";
  const MemoryEstimate gpu = estimate_training_memory(c);
  const double weights = static_cast<double>(c.run.batch_size) * c.model.num_heads * c.run.seq_len * c.run.seq_len * 4 *
                         static_cast<double>(c.model.num_layers);
  EXPECT_GT(static_cast<double>(cpu.forward_kept) - static_cast<double>(gpu.forward_kept), 0.9 * weights)
      << "cpu " << cpu.forward_kept << " B, gpu " << gpu.forward_kept << " B";
}

}  // namespace
}  // namespace ttt
