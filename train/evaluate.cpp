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
    Tensor in = to_device(b.inputs, device), tg = to_device(b.targets, device);
    std::vector<Tensor> logits = model.forward(in);
    double loss = 0, wsum = 0;
    for (int64_t s = 0; s < c.model.num_streams(); ++s) {
      const int64_t V = c.model.vocab(s);
      Tensor t = reshape(squeeze(slice(tg, 2, s, s + 1), 2), {-1});
      const double w = c.model.stream_weights.empty() ? 1.0 : c.model.stream_weights[s];
      loss += w * cross_entropy(reshape(logits[s], {-1, V}), t, c.model.pad_id(s)).item<double>();
      wsum += w;
      std::vector<float> lg = reshape(logits[s], {-1, V}).to_vector<float>();
      std::vector<int64_t> tv = t.to_vector<int64_t>();
      for (size_t row = 0; row < tv.size(); ++row) {
        if (tv[row] == c.model.pad_id(s)) continue;
        const float* p = lg.data() + row * V;
        correct += std::max_element(p, p + V) - p == tv[row];
        ++r.counted;
      }
    }
    r.loss += loss / wsum;
  }
  r.loss /= static_cast<double>(c.run.eval_batches);
  r.accuracy = r.counted ? static_cast<double>(correct) / static_cast<double>(r.counted) : 0.0;
  return r;
}

}  // namespace ttt
