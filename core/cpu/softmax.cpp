// CPU kernels of the softmax family (softmax, softmax from a saved log-sum-exp, their backward)
// and cross-entropy, forward and backward side by side. Statistics accumulate in double.
#include <cmath>
#include <limits>

#include "core/backend.h"
#include "core/cpu/dispatch.h"

namespace ttt::cpu {

// y = softmax(scale x) over the entries that are not blocked (blocked ones get 0; SoftmaxArgs);
// lse (when defined) = log sum exp(scale x) over them.
void softmax(const Tensor& x, const Tensor& y, const Tensor& lse, const SoftmaxArgs& args) {
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t d = x.size(-1), rows = x.numel() / d;
    const T* px = x.data<T>();
    T* py = y.data<T>();
    T* pl = lse.defined() ? lse.data<T>() : nullptr;
    const bool log = args.log;
    const double k = args.scale;
    for (int64_t r = 0; r < rows; ++r) {
      const T* a = px + r * d;
      T* b = py + r * d;
      const int64_t i = args.queries > 0 ? r % args.queries : 0;
      auto open = [&](int64_t j) { return !attention_blocked(args, i, j); };
      const int64_t cols = softmax_columns(args, i, d);
      double m = -std::numeric_limits<double>::infinity(), s = 0;
      for (int64_t j = 0; j < cols; ++j)
        if (open(j)) m = std::max<double>(m, k * a[j]);
      for (int64_t j = 0; j < cols; ++j)
        if (open(j)) s += std::exp(k * a[j] - m);
      for (int64_t j = 0; j < cols; ++j)
        b[j] = static_cast<T>(log ? a[j] - m - std::log(s) : open(j) ? std::exp(k * a[j] - m) / s : 0.0);
      if (pl) pl[r] = static_cast<T>(m + std::log(s));
    }
  });
}

// y = exp(scale x - lse) on open entries (the softmax that produced lse), 0 on blocked ones.
void softmax_from_lse(const Tensor& x, const Tensor& lse, const Tensor& y, const SoftmaxArgs& args) {
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t d = x.size(-1), rows = x.numel() / d;
    const T *px = x.data<T>(), *pl = lse.data<T>();
    T* py = y.data<T>();
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = args.queries > 0 ? r % args.queries : 0;
      const int64_t cols = softmax_columns(args, i, d);
      for (int64_t j = 0; j < cols; ++j)
        py[r * d + j] = static_cast<T>(attention_blocked(args, i, j) ? 0.0 : std::exp(args.scale * px[r * d + j] - pl[r]));
    }
  });
}

// softmax: dx = scale y (g - sum(g y));  log-softmax: dx = g - exp(y) sum(g). Blocked entries
// (SoftmaxArgs) are neither read nor given a gradient: dx = 0 there, whatever g holds.
void softmax_backward(const Tensor& grad, const Tensor& y, const Tensor& grad_x, const SoftmaxArgs& args) {
  dispatch_float(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t d = y.size(-1), rows = y.numel() / d;
    const T *pg = grad.data<T>(), *py = y.data<T>();
    T* pd = grad_x.data<T>();
    const bool log = args.log;
    for (int64_t r = 0; r < rows; ++r) {
      const T *g = pg + r * d, *a = py + r * d;
      T* o = pd + r * d;
      const int64_t i = args.queries > 0 ? r % args.queries : 0;
      auto open = [&](int64_t j) { return !attention_blocked(args, i, j); };
      const int64_t cols = softmax_columns(args, i, d);
      double s = 0;
      for (int64_t j = 0; j < cols; ++j)
        if (open(j)) s += log ? g[j] : g[j] * a[j];
      for (int64_t j = 0; j < cols; ++j)
        o[j] = static_cast<T>(!open(j) ? 0.0 : log ? g[j] - std::exp(a[j]) * s : args.scale * a[j] * (g[j] - s));
    }
  });
}

void cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index, const Tensor& row_loss,
                   const Tensor& row_valid, const Tensor& lse) {
  dispatch_float(logits.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t n = logits.size(0), v = logits.size(1);
    const T* px = logits.data<T>();
    T *pl = row_loss.data<T>(), *pv = row_valid.data<T>(), *ps = lse.data<T>();
    for (int64_t r = 0; r < n; ++r) {
      const T* a = px + r * v;
      double m = -std::numeric_limits<double>::infinity(), s = 0;
      for (int64_t j = 0; j < v; ++j) m = std::max<double>(m, a[j]);
      for (int64_t j = 0; j < v; ++j) s += std::exp(a[j] - m);
      const double l = m + std::log(s);
      const int64_t t = index_at(targets.raw_data(), targets.dtype(), r);
      ps[r] = static_cast<T>(l);
      pv[r] = t == ignore_index ? T(0) : T(1);
      pl[r] = t == ignore_index ? T(0) : static_cast<T>(l - a[t]);
    }
  });
}

void cross_entropy_backward(const Tensor& logits, const Tensor& targets, int64_t ignore_index, const Tensor& lse,
                            const Tensor& scale, const Tensor& grad_logits) {
  dispatch_float(logits.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t n = logits.size(0), v = logits.size(1);
    const T *px = logits.data<T>(), *ps = lse.data<T>();
    const double k = scale.data<T>()[0];
    T* pg = grad_logits.data<T>();
    for (int64_t r = 0; r < n; ++r) {
      const int64_t t = index_at(targets.raw_data(), targets.dtype(), r);
      for (int64_t j = 0; j < v; ++j) {
        double p = std::exp(double(px[r * v + j]) - ps[r]);
        pg[r * v + j] = t == ignore_index ? T(0) : static_cast<T>(k * (p - (j == t ? 1.0 : 0.0)));
      }
    }
  });
}

}  // namespace ttt::cpu
