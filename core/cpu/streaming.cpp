// A streaming step's kernels: one query against a KV cache (compute::attention_decode: softmax(scale
// q k^T) v over the slots written so far, in double) and the TTT state's commit.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/backend.h"
#include "core/cpu/dispatch.h"

namespace ttt::cpu {

void attention_decode(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& position, double scale,
                      const Tensor& out) {
  dispatch_float(q.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t n = q.size(0), slots = k.size(1), d = q.size(2);
    const int64_t count = std::min(index_at(position.raw_data(), position.dtype(), 0) + 1, slots);
    std::vector<double> w(static_cast<size_t>(count));
    for (int64_t r = 0; r < n; ++r) {
      const T* qr = q.data<T>() + r * d;
      const T* kr = k.data<T>() + r * slots * d;
      const T* vr = v.data<T>() + r * slots * d;
      double top = -INFINITY, total = 0;
      for (int64_t j = 0; j < count; ++j) {
        double s = 0;
        for (int64_t e = 0; e < d; ++e) s += static_cast<double>(qr[e]) * static_cast<double>(kr[j * d + e]);
        top = std::max(top, w[static_cast<size_t>(j)] = s * scale);
      }
      for (double& x : w) total += x = std::exp(x - top);
      for (int64_t e = 0; e < d; ++e) {
        double acc = 0;
        for (int64_t j = 0; j < count; ++j) acc += w[static_cast<size_t>(j)] * static_cast<double>(vr[j * d + e]);
        out.data<T>()[r * d + e] = static_cast<T>(acc / total);
      }
    }
  });
}

void ttt_stream_commit(const Tensor& w0, const Tensor& x, const Tensor& y, const Tensor& carry) {
  dispatch_float(w0.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T c = carry.data<T>()[0];
    if (c == T(0)) return;
    const int64_t q = w0.size(-1), p = w0.size(-2), n = w0.numel() / (p * q), t = x.size(-2);
    T* w = w0.data<T>();
    for (int64_t r = 0; r < n; ++r)
      for (int64_t i = 0; i < p; ++i)
        for (int64_t j = 0; j < q; ++j) {
          T sum = 0;
          for (int64_t k = 0; k < t; ++k) sum += x.data<T>()[(r * t + k) * p + i] * y.data<T>()[(r * t + k) * q + j];
          w[(r * p + i) * q + j] -= c * sum;
        }
  });
}

}  // namespace ttt::cpu
