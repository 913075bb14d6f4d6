// Evaluation during training: the validation loss (the streams' weighted mean, as in training) and
// the accuracy of the argmax prediction at every position with a target (for the recall task: the
// answers to the queries).
#pragma once
#include <cstdint>

#include "core/device.h"
#include "train/config.h"
#include "train/data.h"
#include "ttt/model.h"

namespace ttt {

struct EvalResult {
  double loss = 0, accuracy = 0;
  int64_t counted = 0;  // positions with a target
};

// Mean over run.eval_batches validation batches; runs without recording gradients.
EvalResult evaluate(const HybridLM& model, const DataSource& data, const TrainConfig& c, Device device);

}  // namespace ttt
