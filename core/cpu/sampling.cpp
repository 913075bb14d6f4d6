// One token per row of logits (compute::sample_tokens): the order and the draw are shared with
// CUDA (core/sampling_math.h); here candidates are ordered with a partial sort.
#include <algorithm>
#include <numeric>
#include <vector>

#include "core/backend.h"
#include "core/cpu/dispatch.h"
#include "core/philox.h"
#include "core/sampling_math.h"

namespace ttt::cpu {

void sample_tokens(const Tensor& logits, const Tensor& counter, const Tensor& out, const SampleArgs& a) {
  dispatch_float(logits.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t B = logits.size(0), V = logits.size(1);
    int64_t* next_draw = counter.data<int64_t>();
    int64_t* ids = out.data<int64_t>();
    std::vector<uint64_t> keys(static_cast<size_t>(V));
    for (int64_t b = 0; b < B; ++b) {
      const T* row = logits.data<T>() + b * V;
      // keys as CUDA makes them: the logit as f32 (an f64 logit is rounded: both backends agree)
      for (int64_t v = 0; v < V; ++v) keys[static_cast<size_t>(v)] = sampling::candidate_key(static_cast<float>(row[v]), v);
      if (a.greedy) {
        ids[b] = sampling::candidate_id(*std::max_element(keys.begin(), keys.end()));
        continue;
      }
      const int64_t keep = a.top_k > 0 ? std::min(a.top_k, V) : V;
      std::partial_sort(keys.begin(), keys.begin() + keep, keys.end(), std::greater<>());
      const double top = static_cast<float>(row[sampling::candidate_id(keys[0])]);
      std::vector<double> p(static_cast<size_t>(keep));
      for (int64_t i = 0; i < keep; ++i)
        p[static_cast<size_t>(i)] =
            std::exp((static_cast<float>(row[sampling::candidate_id(keys[static_cast<size_t>(i)])]) - top) / a.temperature);
      const double u = philox::uniform53(static_cast<uint64_t>(*next_draw + b), a.seed);
      ids[b] = sampling::candidate_id(keys[static_cast<size_t>(sampling::choose_candidate(p.data(), keep, a.top_p, u))]);
    }
    *next_draw += B;
  });
}

}  // namespace ttt::cpu
