// What the CUDA row kernels share (reduce.cu, softmax.cu, norms.cu): cutting a long reduction into
// pieces that run in parallel, and small accessors.
#pragma once
#include <algorithm>
#include <cstdint>

#include "core/tensor.h"

namespace ttt::cuda {

// A reduction with few outputs (a whole-tensor sum, a bias gradient: 768 sums of 8192 rows) would
// leave most of the GPU idle with one block or thread per output. The reduced dim is then cut into
// `pieces` that reduce in parallel into partial results [outer, pieces, inner], and a second pass
// reduces the partials: two passes, no atomics, so the result does not depend on timing.
constexpr int64_t kFillThreads = 132 * 2048;  // enough resident threads to fill an H100
constexpr int64_t kFillBlocks = 132 * 8;

struct Pieces {
  int64_t count = 1, length = 0;  // `count` runs of `length` (the last may be shorter)
};

// Cuts `dim` into at most `want` pieces of at least `min_length`. An empty dim is one empty piece.
inline Pieces cut(int64_t dim, int64_t want, int64_t min_length) {
  Pieces p;
  if (dim <= 0) return p;
  p.count = std::max<int64_t>(1, std::min({want, (dim + min_length - 1) / min_length, int64_t{65535}}));
  p.length = (dim + p.count - 1) / p.count;
  p.count = (dim + p.length - 1) / p.length;  // no empty piece
  return p;
}

// Optional f32 tensors as raw pointers (nullptr when undefined); the rows of x over its last dim.
inline const float* opt(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }
inline float* opt_mut(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }
inline unsigned rows_of(const Tensor& x) { return static_cast<unsigned>(x.numel() / x.size(-1)); }

}  // namespace ttt::cuda
