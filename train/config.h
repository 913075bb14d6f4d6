// The training config: one YAML file with the sections model, ttt, trainable, optim, schedule,
// data and run (docs/training.md lists every key). load_config validates everything before
// anything is allocated and reports every problem with its key path and line:column at once.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/enum_names.h"
#include "core/kernel_args.h"
#include "nn/optim/adamw.h"
#include "nn/optim/schedule.h"
#include "nn/policy.h"
#include "train/run_dir.h"
#include "ttt/model.h"

namespace ttt {

// The options of the config, as enums: parsed once from their names (EnumNames) when the YAML is read.
enum class DataSourceKind { recall, text, tokens };
enum class GradAudit { error, warn, off };
enum class NonFinite { stop, skip };
enum class Activations { f32, bf16 };
enum class MemoryCheck { refuse, warn };
enum class FrozenDType { f32, bf16 };

template <>
struct EnumNames<DataSourceKind> {
  static constexpr const char* what = "data.source";
  static constexpr std::pair<DataSourceKind, const char*> names[] = {
      {DataSourceKind::recall, "recall"}, {DataSourceKind::text, "text"}, {DataSourceKind::tokens, "tokens"}};
};
template <>
struct EnumNames<GradAudit> {
  static constexpr const char* what = "run.grad_audit";
  static constexpr std::pair<GradAudit, const char*> names[] = {
      {GradAudit::error, "error"}, {GradAudit::warn, "warn"}, {GradAudit::off, "off"}};
};
template <>
struct EnumNames<NonFinite> {
  static constexpr const char* what = "run.nonfinite";
  static constexpr std::pair<NonFinite, const char*> names[] = {{NonFinite::stop, "stop"}, {NonFinite::skip, "skip"}};
};
template <>
struct EnumNames<Activations> {
  static constexpr const char* what = "run.activations";
  static constexpr std::pair<Activations, const char*> names[] = {{Activations::f32, "f32"}, {Activations::bf16, "bf16"}};
};
template <>
struct EnumNames<MemoryCheck> {
  static constexpr const char* what = "run.memory_check";
  static constexpr std::pair<MemoryCheck, const char*> names[] = {{MemoryCheck::refuse, "refuse"}, {MemoryCheck::warn, "warn"}};
};
template <>
struct EnumNames<FrozenDType> {
  static constexpr const char* what = "trainable.frozen_dtype";
  static constexpr std::pair<FrozenDType, const char*> names[] = {{FrozenDType::f32, "f32"}, {FrozenDType::bf16, "bf16"}};
};

struct RecallTask {  // multi-query associative recall (the zero-setup default)
  int64_t num_pairs = 8;
  int64_t num_keys = 32;
  int64_t num_values = 32;
};

struct DataConfig {
  DataSourceKind source = DataSourceKind::recall;
  std::string path;  // text or token file
  double val_fraction = 0.1;
  // Moshi's acoustic delay: stream s is shifted right by delays[s] steps (token files; empty = none).
  std::vector<int64_t> delays;
  RecallTask recall;
  bool held_out = false;  // not a key: ttt-eval --data makes the whole file the validation split
};

struct RunConfig {
  std::string run_dir = "runs/default";
  ExistingRunDir existing_run_dir = ExistingRunDir::refuse;  // an earlier run at run_dir (train/run_dir.h)
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
  std::string device = "auto";              // auto | cpu | cuda | cuda:N
  std::vector<int64_t> devices;             // data parallel on these GPUs, one process each (train/distributed.h)
  std::string reduce_dtype = "f32";         // the dtype gradients are summed across GPUs in: f32 | bf16
  bool overlap_reduce = true;               // sum gradients in buckets during backward (train/grad_reducer.h)
  double bucket_mb = 25;                    // the buckets' size (PyTorch DDP's default)
  bool shard_optimizer = false;             // ZeRO-1: each GPU keeps and updates 1/N of AdamW's state
  double collective_timeout_s = 900;        // a rank waiting this long on the others ends the run (rank 0's
                                            // evaluation and checkpoint writing happen inside such a wait)
  GradAudit grad_audit = GradAudit::error;  // after step 1
  NonFinite nonfinite = NonFinite::stop;    // a NaN/inf loss or gradient: stop (naming the parameter) or skip the step
  MatmulPrecision matmul_precision = MatmulPrecision::f32;  // f32 matrix products with rounded inputs (tensor cores on CUDA)
  Activations activations = Activations::f32;               // bf16: bf16 activations and products, f32 weights (nn/precision.h)
  bool cuda_graph = false;   // CUDA: record forward+backward+grad norm once, replay it each step (core/cuda_graph.h)
  int64_t stop_at_step = 0;  // stop (with a checkpoint) after this step, as if interrupted; 0 = off
  MemoryCheck memory_check = MemoryCheck::refuse;  // a run whose meta-device estimate exceeds the device
};

// model.init_from: the weights a new run starts from (train/init_from.h): a safetensors file under
// Moshi's names (as Kyutai publishes them) or ours. Strict: every parameter of the file must fit,
// and every parameter of the model must be in it except the TTT branches' (initialised and listed).
struct InitConfig {
  std::string from;  // "" = random initialisation
  bool strict = true;
};

struct TrainConfig {
  ModelConfig model;
  InitConfig init;
  nn::RequiresGradPolicy trainable;
  // bf16: the parameters the policy freezes are stored in bf16 (nn::store_frozen_in_bf16): a
  // frozen 7B base costs 2 bytes a parameter; trainable ones keep f32 masters.
  FrozenDType frozen_dtype = FrozenDType::f32;
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
// Every key with its default (the resolved config of an empty one): what a key added after a
// checkpoint was written meant before it existed (train/resume_check.h).
std::map<std::string, std::string> default_resolved_config();
TrainConfig parse_config(const std::string& yaml_text, const std::string& source, const std::vector<std::string>& overrides = {});

}  // namespace ttt
