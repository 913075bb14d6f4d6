// Evaluation during training: the validation loss (the streams' weighted mean, as in training) and
// the accuracy of the argmax prediction at every position with a target (for the recall task: the
// answers to the queries).
#pragma once
#include <cstdint>
#include <vector>

#include "core/device.h"
#include "train/config.h"
#include "train/data.h"
#include "ttt/model.h"

namespace ttt {

struct EvalResult {
  double loss = 0, accuracy = 0;
  int64_t counted = 0;  // targets (a position with several predicted streams counts each)
  // The cross-entropy at each position of the window (unweighted mean over the targets there):
  // does the model predict later tokens better, having seen more? (ttt-eval plots it)
  std::vector<double> loss_by_position;
  std::vector<int64_t> targets_by_position;
  // The loss's parts, averaged over the batches: each stream's (linear heads), or the text and the
  // audio loss (Moshi's depformer: model.loss weighs them into `loss`).
  std::vector<double> part_losses;
};

// Mean over run.eval_batches validation batches; runs without recording gradients. ttt-train and
// ttt-eval both use it.
EvalResult evaluate(const HybridLM& model, const DataSource& data, const TrainConfig& c, Device device);

}  // namespace ttt
