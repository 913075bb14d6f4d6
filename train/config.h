// The training config: one YAML file with the sections model, ttt, trainable, optim, schedule,
// data and run (docs/training.md lists every key). load_config validates everything before
// anything is allocated and reports every problem with its key path and line:column at once.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nn/optim/adamw.h"
#include "nn/optim/schedule.h"
#include "nn/policy.h"
#include "ttt/model.h"

namespace ttt {

struct RecallTask {  // multi-query associative recall (the zero-setup default)
  int64_t num_pairs = 8;
  int64_t num_keys = 32;
  int64_t num_values = 32;
};

struct DataConfig {
  std::string source = "recall";  // recall | text | tokens
  std::string path;               // text or token file
  double val_fraction = 0.1;
  // Moshi's acoustic delay: stream s is shifted right by delays[s] steps (token files; empty = none).
  std::vector<int64_t> delays;
  RecallTask recall;
};

struct RunConfig {
  std::string run_dir = "runs/default";
  std::string existing_run_dir = "refuse";  // refuse | move_aside | delete an earlier run at run_dir (train/run_dir.h)
  uint64_t seed = 0;
  int64_t max_steps = 100;
  int64_t batch_size = 8;
  int64_t seq_len = 64;
  int64_t num_microbatches = 1;
  double max_norm = 1.0;  // global-norm clipping; 0 = off
  int64_t log_freq = 10;
  int64_t eval_freq = 50;  // 0 = only at the end
  int64_t eval_batches = 4;
  int64_t ckpt_freq = 0;  // 0 = only at the end
  int64_t num_ckpt_keep = 2;
  std::string device = "auto";           // auto | cpu | cuda | cuda:N
  std::string grad_audit = "error";      // error | warn | off: after step 1
  std::string nonfinite = "stop";        // a NaN/inf loss or gradient: stop (naming the parameter) or skip the step
  std::string matmul_precision = "f32";  // f32 | tf32 | bf16: f32 matrix products with rounded inputs (tensor cores on CUDA)
  std::string activations = "f32";       // f32 | bf16: bf16 activations and products, f32 weights (nn/precision.h)
  bool cuda_graph = false;               // CUDA: record forward+backward+grad norm once, replay it each step (core/cuda_graph.h)
  int64_t stop_at_step = 0;              // stop (with a checkpoint) after this step, as if interrupted; 0 = off
  std::string memory_check = "refuse";   // refuse | warn: a run whose meta-device estimate exceeds the device
};

struct TrainConfig {
  ModelConfig model;
  nn::RequiresGradPolicy trainable;
  nn::AdamWOptions optim;
  double lr = 1e-3;
  std::vector<nn::ParamGroupRule> groups;
  nn::Schedule schedule;
  DataConfig data;
  RunConfig run;
  std::string resolved_yaml;                    // the config with overrides applied (saved in checkpoints)
  std::map<std::string, std::string> resolved;  // every key read, with its value (defaults filled in)
};

// Reads `path`, applies `overrides` ("run.max_steps=10", values parsed as YAML), validates.
// Throws ttt::Error with every problem found.
TrainConfig load_config(const std::string& path, const std::vector<std::string>& overrides = {});
TrainConfig parse_config(const std::string& yaml_text, const std::string& source, const std::vector<std::string>& overrides = {});

}  // namespace ttt
