// The GPU-free parts of data parallelism (train/distributed.h): who a process is, from torchrun's
// or Slurm's environment, with clear errors for partial sets; the rendezvous that hands the NCCL
// id from rank 0 to the others over TCP (loopback here, as two hosts would).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "autograd/ops.h"
#include "core/device.h"
#include "core/error.h"
#include "nn/safetensors.h"
#include "tests/train/train_runner.h"
#include "train/config.h"
#include "train/data.h"
#include "train/distributed.h"
#include "train/grad_buckets.h"
#include "train/resume_check.h"

namespace ttt {
namespace {

DistributedEnv from(const std::map<std::string, std::string>& vars) {
  return distributed_env([&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

std::string error_of(const std::map<std::string, std::string>& vars) {
  try {
    from(vars);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(DistributedEnv, ReadsTorchrunAndSlurm) {
  EXPECT_FALSE(from({}).active());
  const DistributedEnv t =
      from({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "node7"}, {"MASTER_PORT", "29500"}});
  EXPECT_TRUE(t.active());
  EXPECT_EQ(t.rank, 3);
  EXPECT_EQ(t.world_size, 4);
  EXPECT_EQ(t.local_rank, 1);
  EXPECT_EQ(t.master_addr, "node7");
  EXPECT_EQ(t.master_port, 29500);
  EXPECT_EQ(t.str(), "rank 3 of 4 (local 1, torchrun, node7:29500)");
  const DistributedEnv s = from(
      {{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "16"}, {"SLURM_LOCALID", "5"}, {"MASTER_ADDR", "n1"}, {"MASTER_PORT", "1234"}});
  EXPECT_EQ(s.source, "slurm");
  EXPECT_EQ(s.rank, 5);
  EXPECT_EQ(s.world_size, 16);
  EXPECT_FALSE(from({{"RANK", "0"}, {"WORLD_SIZE", "1"}}).active());  // a world of one needs no rendezvous
}

TEST(DistributedEnv, PartialOrInconsistentSetsAreErrors) {
  EXPECT_NE(error_of({{"RANK", "0"}}).find("RANK is set but WORLD_SIZE is not"), std::string::npos);
  EXPECT_NE(error_of({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "1"}}).find("outside the world"),
            std::string::npos);
  EXPECT_NE(error_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}}).find("needs MASTER_ADDR and MASTER_PORT"),
            std::string::npos);
  EXPECT_NE(error_of({{"RANK", "x"}, {"WORLD_SIZE", "2"}}).find("RANK"), std::string::npos);
  EXPECT_NE(error_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "99999"}}).find("MASTER_PORT"),
            std::string::npos);
}

TEST(Rendezvous, RankZeroHandsItsBytesToEveryRank) {
  const int port = free_local_port();
  const int world = 3;
  std::vector<std::string> got(world);
  std::vector<std::string> errors(world);
  std::vector<std::thread> ranks;
  for (int r = world - 1; r >= 0; --r)  // the others start first: they retry until rank 0 listens
    ranks.emplace_back([&, r] {
      DistributedEnv e;
      e.rank = r;
      e.world_size = world;
      e.master_port = port;
      try {
        got[r] = rendezvous_broadcast(e, r == 0 ? std::string("nccl-unique-id\0bytes", 20) : "", 20);
      } catch (const Error& ex) {
        errors[r] = ex.what();
      }
    });
  for (auto& t : ranks) t.join();
  for (int r = 0; r < world; ++r) {
    EXPECT_EQ(errors[r], "") << "rank " << r;
    EXPECT_EQ(got[r], std::string("nccl-unique-id\0bytes", 20)) << "rank " << r;
  }
}

TEST(Rendezvous, AMissingRankZeroIsAClearErrorNotAHang) {
  DistributedEnv e;
  e.rank = 1;
  e.world_size = 2;
  e.master_port = free_local_port();  // nobody listens there
  try {
    rendezvous_broadcast(e, "", 0.3);
    ADD_FAILURE() << "no error";
  } catch (const Error& ex) {
    EXPECT_NE(std::string(ex.what()).find("could not reach rank 0 at 127.0.0.1:"), std::string::npos) << ex.what();
  }
}

// Shard k of n is rows [k b, (k + 1) b) of the global batch of n b rows, for every source: n GPUs
// with batch b see exactly what one GPU with batch n b sees.
TEST(DataShard, ShardsTileTheGlobalBatch) {
  std::string text;
  for (int i = 0; i < 3000; ++i) text += static_cast<char>('a' + (i * 7 + i / 13) % 26);
  const std::string path = ::testing::TempDir() + "/shard_text.txt";
  { std::ofstream(path) << text; }
  for (DataSourceKind source : {DataSourceKind::recall, DataSourceKind::text}) {
    TrainConfig c = parse_config("run: {batch_size: 3, seq_len: 24}\n", "test");
    c.data.source = source;
    c.data.path = path;
    c.model.text_vocab = 256;
    TrainConfig global = c;
    global.run.batch_size = 6;
    const auto whole = make_data(global), first = make_data(c, {0, 2}), second = make_data(c, {1, 2});
    for (int64_t step : {0, 5})
      for (bool validation : {false, true}) {
        const Batch w = whole->batch(step, validation), a = first->batch(step, validation), b = second->batch(step, validation);
        EXPECT_EQ(cat({a.inputs, b.inputs}, 0).to_vector<int64_t>(), w.inputs.to_vector<int64_t>()) << enum_name(source);
        EXPECT_EQ(cat({a.targets, b.targets}, 0).to_vector<int64_t>(), w.targets.to_vector<int64_t>()) << enum_name(source);
      }
  }
}

// --resume on another number of GPUs: accepted when the global batch stays (the same rows), refused
// (naming it) when it changes; a checkpoint from before the global batch was recorded resumes as before.
TEST(ResumeOnOtherGpus, TheGlobalBatchDecides) {
  TrainerState saved;
  saved.resolved_config = {{"run.batch_size", "4"}, {"run.devices", "[0, 1]"}, {kGlobalBatchKey, "8"}};
  const ResumeChanges ok =
      check_resume(saved, {{"run.batch_size", "8"}, {"run.devices", "[]"}, {kGlobalBatchKey, "8"}}, {}, "", {});
  ASSERT_EQ(ok.applied.size(), 2u);
  EXPECT_NE(ok.applied[0].find("the global batch is unchanged: 8"), std::string::npos) << ok.applied[0];
  try {
    check_resume(saved, {{"run.batch_size", "4"}, {"run.devices", "[]"}, {kGlobalBatchKey, "4"}}, {}, "", {});
    ADD_FAILURE() << "a halved global batch resumed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("run.global_batch_size: checkpoint 8, now 4"), std::string::npos) << e.what();
  }
  TrainerState old;
  old.resolved_config = {{"run.batch_size", "4"}};
  EXPECT_TRUE(check_resume(old, {{"run.batch_size", "4"}, {kGlobalBatchKey, "4"}}, {}, "", {}).applied.empty());
  EXPECT_THROW(check_resume(old, {{"run.batch_size", "8"}, {kGlobalBatchKey, "8"}}, {}, "", {}), Error);
}

// A checkpoint written before a key existed resumes while that key is at its default (keys added
// since: model.audio_head, trainable.frozen_dtype, run.devices, ...); set otherwise, it is refused.
TEST(ResumeCheck, KeysNewerThanTheCheckpointAtTheirDefaultsAreUnchanged) {
  const std::map<std::string, std::string> defaults = default_resolved_config();
  ASSERT_TRUE(defaults.count("model.audio_head") && defaults.count("trainable.frozen_dtype") && defaults.count("run.devices"));
  TrainerState old;
  old.resolved_config = {{"run.batch_size", "4"}};
  std::map<std::string, std::string> now = {{"run.batch_size", "4"}, {"model.audio_head", defaults.at("model.audio_head")}};
  EXPECT_NO_THROW(check_resume(old, now, {}, "", {}, defaults));
  now["model.audio_head"] = "depformer";
  EXPECT_THROW(check_resume(old, now, {}, "", {}, defaults), Error);
}

// run.devices=[] on the command line is an empty list (it was null: "expected a list of integers").
TEST(ResumeOnOtherGpus, AnEmptyDeviceListOverrides) {
  const TrainConfig c = parse_config("run: {devices: [0, 1], batch_size: 4}\n", "test", {"run.devices=[]"});
  EXPECT_TRUE(c.run.devices.empty());
}

// Two ttt-train processes as torchrun (or srun on two hosts) would start them: each told its rank
// and the rendezvous address (loopback) by the environment; `rank1_env` adds to rank 1's. Each is
// killed after 120 s, so a hang fails the test instead of stalling it.
std::vector<testing::Child> spawn_two_ranks(const testing::TempDir& dir, const std::string& args,
                                            const std::string& rank1_env = "") {
  const int port = free_local_port();
  std::vector<testing::Child> ranks;
  for (int r = 0; r < 2; ++r) {
    const std::string env = "RANK=" + std::to_string(r) + " LOCAL_RANK=" + std::to_string(r) +
                            " WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) + " " +
                            (r == 1 ? rank1_env : "") + " ";
    ranks.push_back(testing::spawn_tool("timeout -s KILL 120 env " + env + testing::train_exe(), args,
                                        dir / ("rank" + std::to_string(r) + ".log")));
  }
  return ranks;
}

// Buckets follow the order gradients complete in, each reaching the size; what never completed
// (no gradient in the recorded step) goes last.
TEST(GradientBuckets, PlanCutsTheCompletionOrderBySize) {
  const std::vector<int64_t> bytes = {100, 40, 40, 30, 200, 10};
  const BucketPlan plan = plan_buckets({4, 3, 2, 1, 0}, bytes, 100);
  ASSERT_EQ(plan.buckets.size(), 4u);
  EXPECT_EQ(plan.buckets[0], (std::vector<size_t>{4}));        // 200 >= 100 alone
  EXPECT_EQ(plan.buckets[1], (std::vector<size_t>{3, 2, 1}));  // 30 + 40 + 40
  EXPECT_EQ(plan.buckets[2], (std::vector<size_t>{0}));
  EXPECT_EQ(plan.buckets[3], (std::vector<size_t>{5}));  // never completed
  EXPECT_EQ(plan.str(), "4 buckets of 1, 3, 1, 1 gradients");
  EXPECT_EQ(plan_buckets({}, bytes, INT64_MAX).buckets.size(), 1u);  // no order: one bucket of all
  EXPECT_THROW(plan_buckets({1, 1}, bytes, 100), Error);
  EXPECT_THROW(plan_buckets({9}, bytes, 100), Error);
}

// Every rank must launch the same buckets in the same order: a complete bucket waits for the
// earlier ones, and what is left after backward launches in order.
TEST(GradientBuckets, ABucketLaunchesOnlyAfterEveryEarlierOne) {
  BucketSchedule schedule(BucketPlan{{{0, 1}, {2}, {3, 4}}}, 5);
  EXPECT_TRUE(schedule.complete(2).empty());  // bucket 1 is complete, bucket 0 is not
  EXPECT_TRUE(schedule.complete(0).empty());
  EXPECT_EQ(schedule.complete(1), (std::vector<size_t>{0, 1}));
  EXPECT_TRUE(schedule.complete(3).empty());
  EXPECT_EQ(schedule.rest(), (std::vector<size_t>{2}));  // 4 never completed: bucket 2 goes after backward
  EXPECT_THROW(schedule.complete(3), Error);             // twice in one backward
  schedule.start();
  EXPECT_EQ(schedule.complete(2).size(), 0u);
  EXPECT_EQ(schedule.rest(), (std::vector<size_t>{0, 1, 2}));
  EXPECT_THROW(BucketSchedule(BucketPlan{{{0}, {0}}}, 1), Error);
  EXPECT_THROW(BucketSchedule(BucketPlan{{{0}}}, 2), Error);  // parameter 1 in no bucket
}

// run.devices' launcher: a copy that fails ends the run with its code and a message, never a hang,
// and nothing is created (here every copy fails at once on a machine without the GPUs it asked for).
TEST(DataParallel, ACopyThatFailsEndsTheRunWithItsMessage) {
  if (cuda_device_count() >= 1)  // with 2 GPUs the copies would train; with 1 the launcher refuses GPU 1 before any copy
    GTEST_SKIP() << "for machines without a GPU (the copies start and each fails): the other tests cover GPU machines";
  testing::TempDir dir("data_parallel_fail");
  testing::RunResult r =
      testing::run_train("--config configs/tiny.yaml run.devices=[0,1] run.run_dir=" + (dir / "run"), dir, "timeout -s KILL 60");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("data parallel on GPUs 0 1: 2 processes"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("ended with code 1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("data parallelism needs CUDA GPUs"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "run"));
}

// Two GPUs with run.batch_size b train exactly as one GPU with 2 b: the same losses for 50 steps
// and the same parameters after them (f32; on the 2-GPU machine). The gradients are summed
// overlapped with backward in one bucket (the tiny model's 25 MB default), in many small ones (the
// order of launches matters), and after backward; and with AdamW's state sharded (ZeRO-1), whose
// checkpoint gathers the state to rank 0; and with the step a CUDA graph (the sums recorded in it).
class DataParallel2 : public ::testing::TestWithParam<std::string> {};

TEST_P(DataParallel2, TwoGpusTrainLikeOneWithTheGlobalBatch) {
  if (cuda_device_count() < 2) GTEST_SKIP() << "needs 2 GPUs (" << cuda_device_count() << " visible): the nvidia-h200-x2 machine";
  testing::TempDir dir("data_parallel");
  const std::string common = "--config configs/tiny.yaml run.max_steps=50 run.log_freq=1 run.eval_freq=0 run.eval_batches=1";
  testing::RunResult one = testing::run_train(common + " run.device=cuda:0 run.batch_size=16 run.run_dir=" + (dir / "one"), dir);
  ASSERT_EQ(one.code, 0) << one.output;
  testing::RunResult two =
      testing::run_train(common + " run.devices=[0,1] run.batch_size=8 " + GetParam() + " run.run_dir=" + (dir / "two"), dir);
  ASSERT_EQ(two.code, 0) << two.output;
  EXPECT_NE(two.output.find("data parallel: rank 0 of 2"), std::string::npos) << two.output;
  const bool overlapped = GetParam().find("overlap_reduce=false") == std::string::npos;
  EXPECT_NE(two.output.find(overlapped ? "overlapped with backward from step 2" : ", after backward"), std::string::npos)
      << two.output;
  if (GetParam().find("cuda_graph") == std::string::npos) {  // (a replayed graph is not timed)
    EXPECT_NE(two.output.find("hidden behind backward"), std::string::npos) << two.output;
  }
  const std::vector<double> a = testing::logged_losses(dir / "one/metrics.jsonl"),
                            b = testing::logged_losses(dir / "two/metrics.jsonl");
  ASSERT_EQ(a.size(), 50u);
  ASSERT_EQ(b.size(), a.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]) / std::fabs(a[i]));
  EXPECT_LT(worst, 1e-4) << "losses";
  const nn::SafetensorsData pa = nn::load_safetensors(dir / "one/checkpoints/step_00000050/model.safetensors");
  const nn::SafetensorsData pb = nn::load_safetensors(dir / "two/checkpoints/step_00000050/model.safetensors");
  double param_worst = 0;
  for (size_t t = 0; t < pa.tensors.size(); ++t) {
    const std::vector<double> x = pa.tensors[t].second.to_vector<double>(), y = pb.tensors[t].second.to_vector<double>();
    double diff = 0, scale = 0;
    for (size_t i = 0; i < x.size(); ++i) diff = std::max(diff, std::fabs(x[i] - y[i])), scale = std::max(scale, std::fabs(x[i]));
    param_worst = std::max(param_worst, diff / std::max(scale, 1e-30));
  }
  EXPECT_LT(param_worst, 1e-4) << "parameters after 50 steps";
  std::printf("2 GPUs vs 1 (%s): losses within %.1e, parameters within %.1e relative over 50 steps\n", GetParam().c_str(), worst,
              param_worst);
  const size_t plan = two.output.find("gradient all-reduce: ");
  if (plan != std::string::npos) std::printf("%s\n", two.output.substr(plan, two.output.find('\n', plan) - plan).c_str());
}

INSTANTIATE_TEST_SUITE_P(Reductions, DataParallel2,
                         ::testing::Values("run.overlap_reduce=true", "run.bucket_mb=0.01", "run.overlap_reduce=false",
                                           "run.shard_optimizer=true run.bucket_mb=0.01",
                                           "run.cuda_graph=true run.bucket_mb=0.01"));

// A rank that dies (here SIGKILLed as step 6 begins, two processes as on two hosts, no launcher to
// notice) ends the other with a clear message after run.collective_timeout_s instead of a hang,
// and the last checkpoint (step 4) stays whole and resumable.
TEST(DataParallel, ARankThatDiesEndsTheOtherWithAMessage) {
  if (cuda_device_count() < 2) GTEST_SKIP() << "needs 2 GPUs (" << cuda_device_count() << " visible): the nvidia-h200-x2 machine";
  testing::TempDir dir("data_parallel_death");
  const std::string args =
      "--config configs/tiny.yaml run.max_steps=30 run.log_freq=1 run.eval_freq=0 run.eval_batches=1 run.ckpt_freq=2 "
      "run.collective_timeout_s=10 run.batch_size=8 run.run_dir=" +
      (dir / "run");
  std::vector<testing::Child> ranks = spawn_two_ranks(dir, args, "TTT_FAULT=kill_at_step:6");
  const auto start = std::chrono::steady_clock::now();
  const int code0 = testing::wait_exit(ranks[0]);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  testing::wait_exit(ranks[1]);
  const std::string log0 = testing::read_file(ranks[0].log);
  EXPECT_EQ(code0, 1) << log0;  // an error, not the timeout's SIGKILL
  EXPECT_NE(log0.find("rank 0 of 2"), std::string::npos) << log0;
  EXPECT_NE(log0.find("this rank stops too (its last checkpoint is intact)"), std::string::npos) << log0;
  EXPECT_TRUE(std::filesystem::exists(dir / "run/checkpoints/step_00000004/model.safetensors"));
  const size_t nccl = std::min(log0.find("NCCL"), log0.size());
  std::printf("rank 1 killed at step 6: rank 0 ended after %.1f s with: %s\n", waited,
              log0.substr(nccl, log0.find('\n', nccl) - nccl).c_str());
  testing::RunResult resumed = testing::run_train("--resume " + (dir / "run") + " run.batch_size=16 run.device=cuda:0", dir);
  EXPECT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("step 4"), std::string::npos) << resumed.output;
}

// A run stopped on two GPUs (its AdamW state sharded, ZeRO-1: the checkpoint gathers it) resumes
// on one with the same global batch and ends where a one-GPU run ends.
TEST(DataParallel, ResumesOnAnotherNumberOfGpus) {
  if (cuda_device_count() < 2) GTEST_SKIP() << "needs 2 GPUs (" << cuda_device_count() << " visible): the nvidia-h200-x2 machine";
  testing::TempDir dir("data_parallel_resume");
  const std::string common = "--config configs/tiny.yaml run.max_steps=40 run.log_freq=1 run.eval_freq=0 run.eval_batches=1";
  ASSERT_EQ(testing::run_train(common + " run.device=cuda:0 run.batch_size=16 run.run_dir=" + (dir / "one"), dir).code, 0);
  testing::RunResult two = testing::run_train(
      common + " run.devices=[0,1] run.batch_size=8 run.shard_optimizer=true run.stop_at_step=20 run.run_dir=" + (dir / "two"),
      dir);
  ASSERT_EQ(two.code, 0) << two.output;
  testing::RunResult resumed =
      testing::run_train("--resume " + (dir / "two") + " run.devices=[] run.batch_size=16 run.device=cuda:0", dir);
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("the global batch is unchanged: 16"), std::string::npos) << resumed.output;
  auto last_loss = [](const std::string& metrics) { return testing::logged_losses(metrics).back(); };
  const double a = last_loss(dir / "one/metrics.jsonl"), b = last_loss(dir / "two/metrics.jsonl");
  EXPECT_NEAR(a, b, 1e-4 * a) << resumed.output;
}

// Without ttt-train's launcher: two processes started as torchrun (or srun on two hosts) would
// start them, each told its rank and the rendezvous address by the environment (loopback here).
TEST(DataParallel, TwoProcessesRendezvousFromTheEnvironmentAsOnTwoHosts) {
  if (cuda_device_count() < 2) GTEST_SKIP() << "needs 2 GPUs (" << cuda_device_count() << " visible): the nvidia-h200-x2 machine";
  testing::TempDir dir("data_parallel_env");
  const std::string args =
      "--config configs/tiny.yaml run.max_steps=30 run.log_freq=1 run.eval_freq=0 run.eval_batches=1 "
      "run.batch_size=8 run.run_dir=" +
      (dir / "run");
  std::vector<testing::Child> ranks = spawn_two_ranks(dir, args);
  for (int r = 0; r < 2; ++r) EXPECT_EQ(testing::wait_exit(ranks[static_cast<size_t>(r)]), 0) << testing::read_file(ranks[r].log);
  const std::string log0 = testing::read_file(ranks[0].log);
  EXPECT_NE(log0.find("data parallel: rank 0 of 2 (local 0, torchrun, 127.0.0.1:"), std::string::npos) << log0;
  EXPECT_TRUE(std::filesystem::exists(dir / "run/checkpoints/step_00000030/model.safetensors"));
  EXPECT_EQ(testing::read_file(ranks[1].log).find("step 30/30"), std::string::npos);  // rank 1 is quiet
}

}  // namespace
}  // namespace ttt
