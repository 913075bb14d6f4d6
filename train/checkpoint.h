// Checkpoints: one directory per checkpoint under RUN_DIR/checkpoints/step_XXXXXXXX with
//   model.safetensors      the model's state dict
//   optimizer.safetensors  AdamW's step and moments
//   trainer.json           step, seed, data position, the resolved config, the data's identity
//                          and the code version (what --resume compares: train/resume_check.h)
// A checkpoint is written into a hidden temporary directory, every file fsynced, then renamed
// into place, so a crash at any moment leaves the previous checkpoints intact; only the last
// `keep` complete checkpoints are kept. Every tensor carries a CRC-32C checked on load, and its
// dtype must be the parameter's: a damaged or foreign checkpoint is refused, never trained on.
// Step numbers are zero-padded to 8 digits (run.max_steps stays below 10^8), so the folder names
// sort in step order; the loader sorts by the number itself all the same.
#pragma once
#include <map>
#include <optional>
#include <string>

#include "nn/optim/adamw.h"
#include "train/faults.h"

namespace ttt {

struct TrainerState {
  int64_t step = 0;  // optimizer steps done
  uint64_t seed = 0;
  int64_t data_position = 0;                           // train batches consumed (step * num_microbatches)
  std::string config_yaml;                             // the config as given (with overrides)
  std::map<std::string, std::string> resolved_config;  // every key with its value, defaults filled in
  std::map<std::string, std::string> data_identity;    // source, path, size, hash of the first MiB
  std::string code_version;                            // "0.1.0 (commit)"
};

// Returns the checkpoint's directory. (faults: kill_in_checkpoint, for the crash tests.)
std::string save_checkpoint(const std::string& run_dir, const nn::Module& model, const nn::AdamW& opt, const TrainerState& state,
                            int64_t keep, const Faults& faults = Faults());
// The same with the optimizer's state given (ZeRO-1: gathered from the ranks that own it).
std::string save_checkpoint(const std::string& run_dir, const nn::Module& model,
                            const std::vector<nn::NamedTensor>& optimizer_state, const TrainerState& state, int64_t keep,
                            const Faults& faults = Faults());
// The newest complete checkpoint of a run, if any.
std::optional<std::string> latest_checkpoint(const std::string& run_dir);
// The same for a tool that reads a run (ttt-export, ttt-generate, ttt-eval): an error, naming
// `who`, when run_dir is not a run directory ttt-train made or has no checkpoint yet.
std::string newest_checkpoint_of_run(const std::string& run_dir, const std::string& who);
// Loads into an already built model and optimizer (strict, checksums and dtypes checked); returns
// the trainer state. Nothing is written into the model unless every check passes.
TrainerState load_checkpoint(const std::string& dir, nn::Module& model, nn::AdamW& opt);
// The model's weights alone (for inference: ttt-generate, ttt-eval), checksums verified; a model
// built in f32 takes a checkpoint whose frozen part is bf16 (trainable.frozen_dtype), exactly.
void load_model_weights(const std::string& dir, nn::Module& model);
// Reads and validates trainer.json alone.
TrainerState read_trainer_state(const std::string& dir);

}  // namespace ttt
