// CPU kernels: fill, dtype conversion, unary and broadcasting binary ops, random fills.
#include <algorithm>

#include "core/backend.h"
#include "core/cpu/dispatch.h"
#include "core/cpu/parallel.h"
#include "core/philox.h"
#include "core/scalar_math.h"

namespace ttt::cpu {

// Element-wise loops above this many elements run on every core (a 7B model's weights made,
// scaled and converted on the host); below it, on this thread.
constexpr int64_t kParallelChunk = int64_t{1} << 18;

void fill(const Tensor& out, double value) {
  dispatch_any(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = static_cast<T*>(out.raw_data());
    const T v = static_cast<T>(value);
    parallel_chunks(out.numel(), kParallelChunk, [&](int64_t begin, int64_t end) { std::fill(p + begin, p + end, v); });
  });
}

void cast(const Tensor& in, const Tensor& out) {
  dispatch_any(in.dtype(), [&](auto in_tag) {
    using S = decltype(in_tag);
    dispatch_any(out.dtype(), [&](auto out_tag) {
      using D = decltype(out_tag);
      const S* s = static_cast<const S*>(in.raw_data());
      D* d = static_cast<D*>(out.raw_data());
      parallel_chunks(in.numel(), kParallelChunk, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) d[i] = static_cast<D>(s[i]);
      });
    });
  });
}

void unary(UnaryOp op, const Tensor& x, const Tensor& out, double a, double b) {
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    const T ta = static_cast<T>(a), tb = static_cast<T>(b);
    parallel_chunks(x.numel(), kParallelChunk, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) po[i] = math::unary<T>(op, px[i], ta, tb);
    });
  });
}

void swiglu(const Tensor& x, const Tensor& y) {
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t h = y.size(-1), rows = y.numel() / std::max<int64_t>(h, 1);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < h; ++j) py[r * h + j] = math::swiglu<T>(px[r * 2 * h + j], px[r * 2 * h + h + j]);
  });
}

void swiglu_backward(const Tensor& grad, const Tensor& x, const Tensor& grad_x) {
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t h = grad.size(-1), rows = grad.numel() / std::max<int64_t>(h, 1);
    const T *pg = grad.data<T>(), *px = x.data<T>();
    T* pd = grad_x.data<T>();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < h; ++j) {
        const int64_t a = r * 2 * h + j;
        math::swiglu_grads<T>(px[a], px[a + h], pg[r * h + j], pd[a], pd[a + h]);
      }
  });
}

void binary(BinaryOp op, const Tensor& x, const Tensor& y, const Tensor& out, const BroadcastArgs& args) {
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    const T* py = y.data<T>();
    T* po = out.data<T>();
    const bool acc = args.accumulate;
    auto put = [acc](T& o, T v) { o = acc ? o + v : v; };
    if (args.same_shape) {
      for (int64_t i = 0; i < args.numel; ++i) put(po[i], math::binary<T>(op, px[i], py[i]));
      return;
    }
    // Odometer over the (merged) output dims; the innermost dim is a tight loop.
    const int r = args.rank;
    if (r == 0) {
      put(po[0], math::binary<T>(op, px[0], py[0]));
      return;
    }
    int64_t idx[kMaxDims] = {};
    const int64_t inner = args.shape[r - 1], sa = args.stride_a[r - 1], sb = args.stride_b[r - 1];
    for (int64_t base = 0; base < args.numel; base += inner) {
      int64_t ia = 0, ib = 0;
      for (int d = 0; d < r - 1; ++d) {
        ia += idx[d] * args.stride_a[d];
        ib += idx[d] * args.stride_b[d];
      }
      for (int64_t j = 0; j < inner; ++j) put(po[base + j], math::binary<T>(op, px[ia + j * sa], py[ib + j * sb]));
      for (int d = r - 2; d >= 0; --d) {
        if (++idx[d] < args.shape[d]) break;
        idx[d] = 0;
      }
    }
  });
}

void random_normal(const Tensor& out, uint64_t seed, uint64_t offset) {
  dispatch_float(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = out.data<T>();
    // a 7B model's initial weights are billions of draws: every core takes a slice (same numbers)
    parallel_chunks(out.numel(), int64_t{1} << 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) p[i] = static_cast<T>(philox::normal(offset + i, seed));
    });
  });
}

void random_uniform(const Tensor& out, uint64_t seed, uint64_t offset) {
  dispatch_float(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = out.data<T>();
    parallel_chunks(out.numel(), int64_t{1} << 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) p[i] = static_cast<T>(philox::uniform(offset + i, seed));
    });
  });
}

}  // namespace ttt::cpu
