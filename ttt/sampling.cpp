#include "ttt/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "autograd/ops.h"
#include "core/error.h"

namespace ttt {

std::vector<int64_t> sample_tokens(const Tensor& logits, const SamplingOptions& o, Generator& gen) {
  TTT_CHECK(logits.dim() == 2, "sample_tokens", "expected logits [B, V], got ", logits.describe());
  TTT_CHECK(o.greedy || o.temperature > 0, "sample_tokens", "temperature must be > 0 (or greedy)");
  const int64_t B = logits.size(0), V = logits.size(1);
  const std::vector<double> all = to_device(logits, Device::cpu()).to_vector<double>();
  const std::vector<double> u = rand({B}, gen, DType::f64).to_vector<double>();  // one draw per row, greedy or not
  std::vector<int64_t> out(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    const double* row = all.data() + b * V;
    if (o.greedy) {  // the first of the largest
      out[static_cast<size_t>(b)] = std::max_element(row, row + V) - row;
      continue;
    }
    // candidates by decreasing logit (ties: lower id first), then the top-k and top-p cuts; with
    // top_k only the k best are ordered (V = 32000 text tokens, k = 25)
    std::vector<int64_t> order(static_cast<size_t>(V));
    std::iota(order.begin(), order.end(), 0);
    size_t keep = o.top_k > 0 ? std::min<size_t>(static_cast<size_t>(o.top_k), order.size()) : order.size();
    auto before = [&](int64_t x, int64_t y) { return row[x] > row[y] || (row[x] == row[y] && x < y); };
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep), order.end(), before);
    std::vector<double> p(keep);
    double total = 0;
    for (size_t i = 0; i < keep; ++i) total += p[i] = std::exp((row[order[i]] - row[order[0]]) / o.temperature);
    if (o.top_p < 1.0) {  // the smallest prefix whose probability reaches top_p
      double mass = 0;
      for (size_t i = 0; i < keep; ++i)
        if ((mass += p[i] / total) >= o.top_p) {
          keep = i + 1;
          break;
        }
      total = std::accumulate(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(keep), 0.0);
    }
    double target = u[static_cast<size_t>(b)] * total;
    size_t pick = keep - 1;
    for (size_t i = 0; i < keep; ++i)
      if ((target -= p[i]) < 0) {
        pick = i;
        break;
      }
    out[static_cast<size_t>(b)] = order[pick];
  }
  return out;
}

}  // namespace ttt
