// Generation from a trained run (ttt-generate; docs/inference.md): the model streams one time step
// at a time (HybridLM::hidden_step: KV caches and TTT inner states), fed the prompt as it is, then
// its own samples. With Moshi's depformer the audio codebooks of each step are sampled one after
// another (Depformer::generate); input-only streams (the user's audio) come from the prompt while
// it lasts, then carry no token.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "train/config.h"
#include "train/data.h"
#include "ttt/sampling.h"

namespace ttt {

// A run's model for inference: the config of its newest checkpoint, the model with its weights.
struct RunModel {
  TrainConfig config;
  std::unique_ptr<HybridLM> model;
  std::string checkpoint;
  int64_t step = 0;
};
RunModel load_run_model(const std::string& run_dir, Device device);
// A model from a config (with key.path=value overrides, as ttt-train takes) and weights that no run made: a safetensors file
// under Moshi's or our names, or a ttt-export folder (model.init_from's loader: strict, TTT branches the file lacks initialised;
// the report goes to `report`); "" for random weights (benchmarks).
RunModel load_config_model(const std::string& config_path, const std::vector<std::string>& overrides, const std::string& weights,
                           Device device, std::string& report);

// Inference in bf16: every parameter outside the TTT branches stored in bf16 (they compute in f32
// inside, nn/precision.h); returns how many were converted. Run the generation in a bf16
// ActivationScope.
int64_t weights_in_bf16_except_ttt(HybridLM& model);

struct GenerateOptions {
  SamplingOptions text{false, 0.7, 25, 1.0};    // LMGen's temp_text, top_k_text
  SamplingOptions audio{false, 0.8, 250, 1.0};  // LMGen's temp, top_k
  int64_t steps = 64;                           // time steps generated after the prompt
  uint64_t seed = 0;
  // On a GPU, the generated steps after the first are recorded once as a CUDA graph and replayed
  // (the same numbers: the step reads its position, tokens and draws from device memory); off
  // when profiling (TTT_PROFILE times kernels one by one) or when a draw needs the host (a
  // candidate set above kMaxSampleCandidates).
  bool cuda_graph = true;
};

// prompt [B, P, streams] (P >= 1, cpu) -> the sequence [B, P + steps, streams] (cpu): the model
// reads position p and predicts p + 1. on_step(p, tokens [B, 1, streams]) sees every generated step
// (the step's one copy to the host).
Tensor generate(const HybridLM& model, const Tensor& prompt, const GenerateOptions& options, Device device,
                const std::function<void(int64_t, const Tensor&)>& on_step = {});

// The recall task's queries answered by generation: the validation sequences streamed with the
// true tokens, the greedy token at every query key compared with its value. `eval_accuracy` is what
// the training's evaluation (a full forward's argmax) says on the same batches.
struct RecallAnswers {
  int64_t correct = 0, total = 0;
  double eval_accuracy = 0;
  double accuracy() const { return total ? static_cast<double>(correct) / static_cast<double>(total) : 0.0; }
};
RecallAnswers answer_recall_queries(const HybridLM& model, const TrainConfig& config, int64_t batches, Device device);

// Moshi's delays undone (data.delays): stream s at step t is sequence position t + delay[s]; the
// last max(delay) steps are incomplete and dropped.
Tensor undelay(const Tensor& sequence, const std::vector<int64_t>& delays);

}  // namespace ttt
