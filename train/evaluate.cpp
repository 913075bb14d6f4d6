#include "train/evaluate.h"

#include <algorithm>

#include "autograd/ops.h"

namespace ttt {

EvalResult evaluate(const HybridLM& model, const DataSource& data, const TrainConfig& c, Device device) {
  NoGradGuard no_grad;
  EvalResult r;
  int64_t correct = 0;
  for (int64_t i = 0; i < c.run.eval_batches; ++i) {
    Batch b = data.batch(i, /*validation=*/true);
    const HybridLM::LossTargets prepared = model.loss_targets(b.targets);  // the depformer's, else empty
    Tensor in = to_device(b.inputs, device), tg = to_device(b.targets, device);
    const std::vector<Tensor> logits = model.logits(in, tg);
    HybridLM::LossTargets on_device;
    if (prepared.targets.defined()) on_device = {to_device(prepared.targets, device), to_device(prepared.weights, device)};
    r.loss += model.loss_from_logits(logits, tg, on_device).total.item<double>();
    // accuracy: the argmax against every target the loss counts
    const Tensor counted = prepared.targets.defined() ? prepared.targets : b.targets;  // [B, S, >= predicted streams]
    const std::vector<int64_t> tv = counted.to_vector<int64_t>();
    const int64_t rows = counted.size(0) * counted.size(1), N = counted.size(2);
    for (size_t p = 0; p < logits.size(); ++p) {
      const int64_t V = c.model.vocab(static_cast<int64_t>(p));
      const std::vector<float> lg = reshape(logits[p], {-1, V}).to_vector<float>();
      for (int64_t row = 0; row < rows; ++row) {
        const int64_t t = tv[static_cast<size_t>(row * N) + p];
        if (t < 0 || t == c.model.pad_id(static_cast<int64_t>(p))) continue;
        const float* l = lg.data() + row * V;
        correct += std::max_element(l, l + V) - l == t;
        ++r.counted;
      }
    }
  }
  r.loss /= static_cast<double>(c.run.eval_batches);
  r.accuracy = r.counted ? static_cast<double>(correct) / static_cast<double>(r.counted) : 0.0;
  return r;
}

}  // namespace ttt
