// The ops a streaming step runs on the device (core/compute.h): index arithmetic, the KV cache's
// ring of places, and one query against the cache, which must equal attention over the same keys.
// (tests/cuda/test_cuda_decode.cpp: CUDA gives the CPU's numbers.)
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/ops.h"
#include "core/compute.h"
#include "core/error.h"
#include "core/rng.h"

namespace ttt {
namespace {

Tensor position(int64_t p) { return from_vector({static_cast<double>(p)}, {1}, DType::i64); }

TEST(StreamingOps, IndexStepAddsThenWraps) {
  const Tensor x = from_vector({0, 4, 9, 13}, {4}, DType::i64);
  EXPECT_EQ(compute::index_step(x, 1).to_vector<int64_t>(), (std::vector<int64_t>{1, 5, 10, 14}));
  EXPECT_EQ(compute::index_step(x, 0, 5).to_vector<int64_t>(), (std::vector<int64_t>{0, 4, 4, 3}));
  EXPECT_THROW(compute::index_step(from_vector({1.0}, {1}), 1), Error);
}

TEST(StreamingOps, CacheWriteFillsThePlaceOfThePositionModuloItsLength) {
  const Tensor cache = zeros({2, 3, 2});  // [outer 2, slots 3, d 2]
  const Tensor rows = from_vector({1, 2, 3, 4}, {2, 1, 2});
  compute::cache_write(cache, rows, position(4));  // place 1
  EXPECT_EQ(cache.to_vector<double>(), (std::vector<double>{0, 0, 1, 2, 0, 0, 0, 0, 3, 4, 0, 0}));
  EXPECT_THROW(compute::cache_write(cache, from_vector({1, 2, 3}, {1, 1, 3}), position(0)), Error);
}

TEST(StreamingOps, DecodeEqualsAttentionOverThePlacesWritten) {
  Generator gen(3);
  const int64_t B = 2, H = 3, slots = 6, d = 8;
  const Tensor q = randn({B, H, 1, d}, gen, DType::f64), k = randn({B, H, slots, d}, gen, DType::f64),
               v = randn({B, H, slots, d}, gen, DType::f64);
  const double scale = 1.0 / std::sqrt(8.0);
  for (int64_t p : {0, 2, 5, 9}) {  // 9: every place written (a full ring)
    const int64_t count = std::min<int64_t>(p + 1, slots);
    const Tensor want = matmul(softmax(matmul(q, slice(k, 2, 0, count), false, true) * scale, -1), slice(v, 2, 0, count));
    const std::vector<double> a = want.to_vector<double>(),
                              b = compute::attention_decode(q, k, v, position(p), scale).to_vector<double>();
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-12) << "position " << p << ", element " << i;
  }
  EXPECT_THROW(compute::attention_decode(q, slice(k, 3, 0, 4), v, position(0), scale), Error);
}

// sums = keep sums + x y^T, then w0 -= carry sums: the TTT stream's state in one pass.
TEST(StreamingOps, TttStreamUpdateAddsTheOuterProductAndCommits) {
  Generator gen(4);
  const int64_t n = 3, p = 4, q = 5;
  const Tensor w0 = randn({n, p, q}, gen, DType::f64), sums = randn({n, p, q}, gen, DType::f64);
  const Tensor x = randn({n, 1, p}, gen, DType::f64), y = randn({n, 1, q}, gen, DType::f64);
  for (auto [keep, carry] : {std::pair{1.0, 0.0}, std::pair{0.0, 0.0}, std::pair{1.0, 0.37}}) {
    const Tensor w = clone_data(w0), s = clone_data(sums);
    compute::ttt_stream_update(w, s, x, y, from_vector({keep}, {1}, DType::f64), from_vector({carry}, {1}, DType::f64));
    const Tensor want_s = add(sums * keep, matmul(x, y, true, false));
    const Tensor want_w = sub(w0, want_s * carry);
    const std::vector<double> a = s.to_vector<double>(), b = want_s.to_vector<double>(), c = w.to_vector<double>(),
                              d = want_w.to_vector<double>();
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_NEAR(a[i], b[i], 1e-14) << "keep " << keep << ", sums " << i;
      EXPECT_NEAR(c[i], d[i], 1e-14) << "carry " << carry << ", w0 " << i;
    }
  }
  EXPECT_THROW(
      compute::ttt_stream_update(w0, sums, y, x, from_vector({1.0}, {1}, DType::f64), from_vector({0.0}, {1}, DType::f64)),
      Error);
}

}  // namespace
}  // namespace ttt
