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

// compute::ttt_stream_step's numbers are checked through the model (tests/ttt/test_streaming.cpp:
// streamed logits equal the full forward's) and on CUDA against these loops
// (tests/cuda/test_cuda_decode.cpp); here, that it refuses what does not fit.
TEST(StreamingOps, TttStreamStepRefusesMismatchedState) {
  const int64_t n = 2, d = 4, b = 3;
  TttStepArgs a;
  a.xq = zeros({n, d}), a.xk = zeros({n, d}), a.target = zeros({n, d}), a.out = zeros({n, d});
  a.eta = zeros({n}), a.positional = zeros({b}), a.position = position(0);
  a.ln_weight = zeros({1, d}), a.ln_bias = zeros({1, d});
  a.w0 = {zeros({n, d, 6}), zeros({n, 6, d})};
  a.b0 = {zeros({n, 6}), zeros({n, d})};
  a.xs = {zeros({n, b, d}), zeros({n, b, 6})};
  a.ds = {zeros({n, b, 6}), zeros({n, b, d})};
  EXPECT_NO_THROW(compute::ttt_stream_step(a));
  a.w0[1] = zeros({n, 5, d});  // layer 1 does not take layer 0's width
  EXPECT_THROW(compute::ttt_stream_step(a), Error);
  a.w0[1] = zeros({n, 6, d});
  a.ds[0] = zeros({n, b + 1, 6});
  EXPECT_THROW(compute::ttt_stream_step(a), Error);
}

}  // namespace
}  // namespace ttt
