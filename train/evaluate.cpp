#include "train/evaluate.h"

#include <algorithm>

#include "autograd/ops.h"
#include "core/kernel_args.h"

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
    const HybridLM::Loss batch_loss = model.loss_from_logits(logits, tg, on_device);
    r.loss += batch_loss.total.item<double>();
    if (r.part_losses.empty()) r.part_losses.assign(batch_loss.per_stream.size(), 0.0);
    for (size_t k = 0; k < batch_loss.per_stream.size(); ++k) r.part_losses[k] += batch_loss.per_stream[k].item<double>();
    // every target the loss counts: its argmax (accuracy) and its cross-entropy (by position)
    const Tensor counted = prepared.targets.defined() ? prepared.targets : b.targets;  // [B, S, >= predicted streams]
    const std::vector<int64_t> tv = counted.to_vector<int64_t>();
    const int64_t S = counted.size(1), rows = counted.size(0) * S, N = counted.size(2);
    if (r.loss_by_position.empty())
      r.loss_by_position.assign(static_cast<size_t>(S), 0.0), r.targets_by_position.assign(static_cast<size_t>(S), 0);
    for (size_t p = 0; p < logits.size(); ++p) {
      const int64_t V = c.model.vocab(static_cast<int64_t>(p)), pad = c.model.pad_id(static_cast<int64_t>(p));
      const Tensor flat = reshape(logits[p], {-1, V});
      std::vector<double> target(static_cast<size_t>(rows));
      for (int64_t row = 0; row < rows; ++row) {
        const int64_t t = tv[static_cast<size_t>(row * N) + p];
        target[static_cast<size_t>(row)] = t < 0 || t == pad ? static_cast<double>(kNoToken) : static_cast<double>(t);
      }
      const std::vector<double> ce =
          cross_entropy_rows(flat, to_device(from_vector(target, {rows}, DType::i64), device), kNoToken).to_vector<double>();
      const std::vector<float> lg = flat.to_vector<float>();
      for (int64_t row = 0; row < rows; ++row) {
        const int64_t t = static_cast<int64_t>(target[static_cast<size_t>(row)]);
        if (t < 0) continue;
        const float* l = lg.data() + row * V;
        correct += std::max_element(l, l + V) - l == t;
        ++r.counted;
        r.loss_by_position[static_cast<size_t>(row % S)] += ce[static_cast<size_t>(row)];
        ++r.targets_by_position[static_cast<size_t>(row % S)];
      }
    }
  }
  r.loss /= static_cast<double>(c.run.eval_batches);
  for (double& part : r.part_losses) part /= static_cast<double>(c.run.eval_batches);
  r.accuracy = r.counted ? static_cast<double>(correct) / static_cast<double>(r.counted) : 0.0;
  for (size_t t = 0; t < r.loss_by_position.size(); ++t)
    if (r.targets_by_position[t]) r.loss_by_position[t] /= static_cast<double>(r.targets_by_position[t]);
  return r;
}

}  // namespace ttt
