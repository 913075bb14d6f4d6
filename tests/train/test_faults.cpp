// Faults: a kill while checkpointing, corrupted checkpoints, non-finite values and a
// full disk never lose the last good checkpoint, and each is reported clearly.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>

#include "tests/train/train_runner.h"

namespace ttt::testing {
namespace {

namespace fs = std::filesystem;

const std::string kConfig = "--config configs/tiny.yaml run.max_steps=8 run.ckpt_freq=2 run.num_ckpt_keep=5" + kSmallRun;

TEST(Faults, KilledWhileWritingACheckpointKeepsThePreviousOneAndResumes) {
  TempDir dir("fault_kill");
  RunResult killed = run_train(kConfig + " run.run_dir=" + (dir / "run"), dir, "TTT_FAULT=kill_in_checkpoint:4");
  ASSERT_EQ(killed.signal, SIGKILL) << "code " << killed.code << "\n" << killed.output;
  EXPECT_TRUE(fs::exists(dir / "run/checkpoints/step_00000002/trainer.json"));
  EXPECT_FALSE(fs::exists(dir / "run/checkpoints/step_00000004")) << "a half-written checkpoint must not look complete";
  RunResult resumed = run_train("--resume " + (dir / "run"), dir);
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("step_00000002 (step 2)"), std::string::npos) << resumed.output;
  EXPECT_TRUE(fs::exists(dir / "run/checkpoints/step_00000008/trainer.json"));
  for (auto& e : fs::directory_iterator(dir / "run/checkpoints"))
    EXPECT_NE(e.path().filename().string()[0], '.') << "stale temporary checkpoint " << e.path();
}

TEST(Faults, CorruptCheckpointsAreRefusedClearly) {
  TempDir dir("fault_corrupt");
  ASSERT_EQ(run_train(kConfig + " run.max_steps=4 run.run_dir=" + (dir / "run"), dir).code, 0);
  const std::string ckpt = dir / "run/checkpoints/step_00000004";
  const std::string model = read_file(ckpt + "/model.safetensors");
  std::ofstream(ckpt + "/model.safetensors", std::ios::binary | std::ios::trunc) << model.substr(0, model.size() / 2);
  RunResult r = run_train("--resume " + (dir / "run") + " run.max_steps=6", dir);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("model.safetensors"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("truncated"), std::string::npos) << r.output;
  std::ofstream(ckpt + "/model.safetensors", std::ios::binary | std::ios::trunc) << model;
  std::ofstream(ckpt + "/trainer.json", std::ios::trunc) << "{\"step\": ";
  RunResult j = run_train("--resume " + (dir / "run") + " run.max_steps=6", dir);
  EXPECT_EQ(j.code, 1) << j.output;
  EXPECT_NE(j.output.find("trainer.json"), std::string::npos) << j.output;
  EXPECT_NE(j.output.find("corrupt"), std::string::npos) << j.output;
}

TEST(Faults, NonFiniteGradientStopsNamingTheParameter) {
  TempDir dir("fault_nan_stop");
  RunResult r = run_train(kConfig + " run.run_dir=" + (dir / "run"), dir, "TTT_FAULT=nan_grad:5");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("step 5: non-finite loss or gradient"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("first parameter with a non-finite gradient: emb.0.weight"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("step_00000004"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(dir / "run/checkpoints/step_00000004/trainer.json"));
  EXPECT_FALSE(fs::exists(dir / "run/checkpoints/step_00000006"));
  EXPECT_EQ(run_train("--resume " + (dir / "run"), dir).code, 0) << "the last good checkpoint must resume";
}

TEST(Faults, NonFiniteGradientCanBeSkippedAndCounted) {
  TempDir dir("fault_nan_skip");
  RunResult r = run_train(kConfig + " run.nonfinite=skip run.run_dir=" + (dir / "run"), dir, "TTT_FAULT=nan_grad:3,nan_grad:6");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("step 3: non-finite loss or gradient, step skipped (1 so far)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("step 6: non-finite loss or gradient, step skipped (2 so far)"), std::string::npos) << r.output;
  EXPECT_NE(read_file(dir / "run/metrics.jsonl").find("\"skipped_nonfinite\":2"), std::string::npos);
  EXPECT_EQ(read_file(dir / "run/metrics.jsonl").find("nan"), std::string::npos) << "a NaN reached the weights";
}

// A full disk, simulated with a file-size limit: the write fails, the old checkpoint stays.
TEST(Faults, FullDiskWhileCheckpointingKeepsTheOldCheckpoint) {
  TempDir dir("fault_disk");
  ASSERT_EQ(run_train(kConfig + " run.max_steps=4 run.run_dir=" + (dir / "run"), dir).code, 0);
  const std::string before = read_file(dir / "run/checkpoints/step_00000004/model.safetensors");
  // ulimit -f counts 512-byte blocks in sh: 40 KiB, less than model.safetensors (~90 KB)
  RunResult r = run_train("--resume " + (dir / "run") + " run.max_steps=6", dir, "ulimit -f 80;");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("the previous file is kept"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(dir / "run/checkpoints/step_00000004/model.safetensors"), before);
  EXPECT_FALSE(fs::exists(dir / "run/checkpoints/step_00000006"));
  for (auto& e : fs::directory_iterator(dir / "run/checkpoints"))
    EXPECT_NE(e.path().filename().string()[0], '.') << "partial checkpoint left behind: " << e.path();
  EXPECT_EQ(run_train("--resume " + (dir / "run") + " run.max_steps=6", dir).code, 0);
}

}  // namespace
}  // namespace ttt::testing
