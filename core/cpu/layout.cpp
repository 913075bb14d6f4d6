// CPU kernels that move elements: gather (permute/expand), block copies (slice/cat), flip,
// triangular masks, embedding lookup and its scatter-add, rotary embeddings.
#include <cmath>

#include "core/backend.h"
#include "core/cpu/dispatch.h"

namespace ttt::cpu {

void gather(const Tensor& in, const Tensor& out, const GatherArgs& args) {
  dispatch_bytes(in.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = static_cast<const T*>(in.raw_data());
    T* dst = static_cast<T*>(out.raw_data());
    int64_t idx[kMaxDims] = {};
    for (int64_t i = 0; i < args.numel; ++i) {
      int64_t s = 0;
      for (int d = 0; d < args.rank; ++d) s += idx[d] * args.in_stride[d];
      dst[i] = src[s];
      for (int d = args.rank - 1; d >= 0; --d) {
        if (++idx[d] < args.out_shape[d]) break;
        idx[d] = 0;
      }
    }
  });
}

void copy_block(const Tensor& src, const Tensor& dst, const BlockCopyArgs& a) {
  dispatch_bytes(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* s = static_cast<const T*>(src.raw_data());
    T* d = static_cast<T*>(dst.raw_data());
    for (int64_t o = 0; o < a.outer; ++o)
      for (int64_t j = 0; j < a.count; ++j) {
        const T* from = s + (o * a.src_dim + a.src_start + j) * a.inner;
        T* to = d + (o * a.dst_dim + a.dst_start + j) * a.inner;
        for (int64_t i = 0; i < a.inner; ++i) to[i] = from[i];
      }
  });
}

void flip(const Tensor& x, const Tensor& out, const DimView& v) {
  dispatch_bytes(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* s = static_cast<const T*>(x.raw_data());
    T* d = static_cast<T*>(out.raw_data());
    for (int64_t o = 0; o < v.outer; ++o)
      for (int64_t j = 0; j < v.dim; ++j)
        for (int64_t i = 0; i < v.inner; ++i) d[(o * v.dim + j) * v.inner + i] = s[(o * v.dim + (v.dim - 1 - j)) * v.inner + i];
  });
}

void tri(const Tensor& x, const Tensor& out, int64_t k, bool lower) {
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t rows = x.size(-2), cols = x.size(-1), mats = x.numel() / (rows * cols);
    const T* s = x.data<T>();
    T* d = out.data<T>();
    for (int64_t m = 0; m < mats; ++m)
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
          const int64_t i = (m * rows + r) * cols + c;
          const bool keep = lower ? (c - r <= k) : (c - r >= k);
          d[i] = keep ? s[i] : T(0);
        }
  });
}

void embedding(const Tensor& weight, const Tensor& ids, const Tensor& out) {
  dispatch_float(weight.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t d = weight.size(1), n = ids.numel();
    const T* w = weight.data<T>();
    T* o = out.data<T>();
    for (int64_t i = 0; i < n; ++i) {
      const int64_t id = index_at(ids.raw_data(), ids.dtype(), i);
      for (int64_t j = 0; j < d; ++j) o[i * d + j] = id == kNoToken ? T(0) : w[id * d + j];
    }
  });
}

void embedding_backward(const Tensor& grad, const Tensor& ids, const Tensor& grad_weight) {
  dispatch_float(grad.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t d = grad_weight.size(1), n = ids.numel();
    const T* g = grad.data<T>();
    T* gw = grad_weight.data<T>();
    for (int64_t i = 0; i < n; ++i) {
      const int64_t id = index_at(ids.raw_data(), ids.dtype(), i);
      if (id == kNoToken) continue;  // no token: no row, no gradient
      for (int64_t j = 0; j < d; ++j) gw[id * d + j] += g[i * d + j];
    }
  });
}

void rope(const Tensor& x, const Tensor& positions, double theta, bool inverse, const Tensor& out) {
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t d = x.size(-1), len = x.size(-2), rows = x.numel() / (d * len);
    const T* s = x.data<T>();
    T* o = out.data<T>();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t l = 0; l < len; ++l) {
        const double pos = static_cast<double>(index_at(positions.raw_data(), positions.dtype(), l));
        for (int64_t i = 0; i < d / 2; ++i) {
          const double angle = pos * std::pow(theta, -2.0 * i / d);
          const double c = std::cos(angle), sn = inverse ? -std::sin(angle) : std::sin(angle);
          const int64_t at = (r * len + l) * d + 2 * i;
          const double x0 = s[at], x1 = s[at + 1];
          o[at] = static_cast<T>(x0 * c - x1 * sn);
          o[at + 1] = static_cast<T>(x0 * sn + x1 * c);
        }
      }
  });
}

void index_step(const Tensor& x, int64_t add, int64_t modulus, const Tensor& out) {
  const int64_t* in = x.data<int64_t>();
  int64_t* o = out.data<int64_t>();
  for (int64_t i = 0; i < x.numel(); ++i) o[i] = modulus > 0 ? (in[i] + add) % modulus : in[i] + add;
}

void cache_write(const Tensor& cache, const Tensor& rows, const Tensor& position) {
  dispatch_bytes(cache.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t slots = cache.size(-2), inner = cache.size(-1), outer = cache.numel() / (slots * inner);
    const int64_t slot = index_at(position.raw_data(), position.dtype(), 0) % slots;
    const T* from = static_cast<const T*>(rows.raw_data());
    T* to = static_cast<T*>(cache.raw_data());
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) to[(o * slots + slot) * inner + i] = from[o * inner + i];
  });
}

}  // namespace ttt::cpu
