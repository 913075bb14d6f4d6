// Checkpoints: one directory per checkpoint under RUN_DIR/checkpoints/step_XXXXXXXX with
//   model.safetensors      the model's state dict
//   optimizer.safetensors  AdamW's step and moments
//   trainer.json           step, seed, data position and the resolved config
// A checkpoint is written into a hidden temporary directory, every file fsynced, then renamed
// into place, so a crash at any moment leaves the previous checkpoints intact; only the last
// `keep` complete checkpoints are kept.
#pragma once
#include <optional>
#include <string>

#include "nn/optim/adamw.h"

namespace ttt {

struct TrainerState {
  int64_t step = 0;           // optimizer steps done
  uint64_t seed = 0;
  int64_t data_position = 0;  // train batches consumed (step * num_microbatches)
  std::string config_yaml;
};

// Returns the checkpoint's directory.
std::string save_checkpoint(const std::string& run_dir, const nn::Module& model, const nn::AdamW& opt,
                            const TrainerState& state, int64_t keep);
// The newest complete checkpoint of a run, if any.
std::optional<std::string> latest_checkpoint(const std::string& run_dir);
// Loads into an already built model and optimizer (strict); returns the trainer state.
TrainerState load_checkpoint(const std::string& dir, nn::Module& model, nn::AdamW& opt);
TrainerState read_trainer_state(const std::string& dir);

}  // namespace ttt
