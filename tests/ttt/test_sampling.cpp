// sample_tokens (ttt/sampling.h): greedy is the argmax, a seed repeats its draws, the draw counter
// advances by one per row, and the draws follow softmax(logits / temperature) cut to the top-k /
// top-p tokens. (tests/cuda/test_cuda_sampling.cpp: the GPU picks the CPU's tokens.)
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "autograd/ops.h"
#include "core/error.h"
#include "ttt/sampling.h"

namespace ttt {
namespace {

const std::vector<double> kLogits = {0.5, 2.0, -1.0, 1.0, 2.0};  // ids 1 and 4 tie for the largest

std::map<int64_t, int> draws(const SamplingOptions& o, int n, uint64_t seed = 1, DType dtype = DType::f32) {
  std::vector<double> rows;
  for (int i = 0; i < n; ++i) rows.insert(rows.end(), kLogits.begin(), kLogits.end());
  DrawStream stream(seed, Device::cpu());
  std::map<int64_t, int> count;
  for (int64_t id : sample_tokens(from_vector(rows, {n, 5}, dtype), o, stream).to_vector<int64_t>()) ++count[id];
  EXPECT_EQ(stream.counter.to_vector<int64_t>()[0], n) << "one draw per row";
  return count;
}

TEST(Sampling, GreedyIsTheFirstLargest) {
  SamplingOptions o;
  o.greedy = true;
  EXPECT_EQ(draws(o, 3), (std::map<int64_t, int>{{1, 3}}));
  // negative logits, -0 against +0 (they tie: the lower id wins), a bf16 row
  DrawStream stream(0, Device::cpu());
  EXPECT_EQ(sample_tokens(from_vector({-3.0, -0.0, 0.0, -1.0}, {1, 4}), o, stream).to_vector<int64_t>(), std::vector<int64_t>{1});
  EXPECT_EQ(sample_tokens(from_vector({-3.0, -2.5, -7.0}, {1, 3}, DType::bf16), o, stream).to_vector<int64_t>(),
            std::vector<int64_t>{1});
}

TEST(Sampling, DrawsFollowTheTemperedSoftmax) {
  SamplingOptions o;
  o.temperature = 2.0;
  const int n = 20000;
  const std::map<int64_t, int> count = draws(o, n);
  double total = 0;
  for (double l : kLogits) total += std::exp(l / 2.0);
  for (int64_t id = 0; id < 5; ++id) {
    const double p = std::exp(kLogits[id] / 2.0) / total, sd = std::sqrt(p * (1 - p) / n);
    const double seen = count.count(id) ? count.at(id) / static_cast<double>(n) : 0.0;
    EXPECT_NEAR(seen, p, 5 * sd) << "token " << id;
  }
}

TEST(Sampling, TopKAndTopPCutTheTail) {
  SamplingOptions k2;
  k2.top_k = 2;  // ids 1 and 4
  for (auto& [id, c] : draws(k2, 2000)) EXPECT_TRUE(id == 1 || id == 4) << id;
  SamplingOptions p;
  p.temperature = 1.0;
  p.top_p = 0.8;  // 1 and 4 hold 0.71 of the mass; with 3 (0.16 more) the prefix reaches 0.8
  std::map<int64_t, int> seen = draws(p, 4000);
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_TRUE(seen.count(1) && seen.count(4) && seen.count(3));
}

TEST(Sampling, ASeedRepeatsItsDraws) {
  SamplingOptions o;
  EXPECT_EQ(draws(o, 50, 9), draws(o, 50, 9));
  EXPECT_NE(draws(o, 50, 9), draws(o, 50, 10));
  EXPECT_EQ(draws(o, 50, 9), draws(o, 50, 9, DType::f64)) << "f64 logits are ordered as their f32 values";
  // the counter, not the call, decides a row's draw: two calls of 25 rows draw what one of 50 does
  std::vector<double> rows;
  for (int i = 0; i < 50; ++i) rows.insert(rows.end(), kLogits.begin(), kLogits.end());
  const Tensor logits = from_vector(rows, {50, 5});
  DrawStream once(4, Device::cpu()), twice(4, Device::cpu());
  std::vector<int64_t> split = sample_tokens(slice(logits, 0, 0, 25), o, twice).to_vector<int64_t>();
  for (int64_t id : sample_tokens(slice(logits, 0, 25, 50), o, twice).to_vector<int64_t>()) split.push_back(id);
  EXPECT_EQ(sample_tokens(logits, o, once).to_vector<int64_t>(), split);
  o.temperature = 0;
  EXPECT_THROW(draws(o, 1), Error);
}

// Given a row of a token buffer, the ids go there (a generated step gathers nothing): the same ids
// as a fresh result, the other rows untouched; a row of another length or dtype is refused.
TEST(Sampling, WritesIntoAGivenRow) {
  SamplingOptions o;
  const Tensor logits = from_vector({0.1, 2.0, -1.0, 0.5, 3.0, 1.0, 0.0, -2.0, 1.0, 0.2}, {2, 5});
  DrawStream fresh(3, Device::cpu()), into(3, Device::cpu());
  const Tensor buffer = full({3, 2}, -1.0, DType::i64);
  const Tensor row = squeeze(slice(buffer, 0, 1, 2), 0);
  const Tensor returned = sample_tokens(logits, o, into, row);
  const std::vector<int64_t> want = sample_tokens(logits, o, fresh).to_vector<int64_t>();
  EXPECT_EQ(returned.to_vector<int64_t>(), want);
  EXPECT_EQ(buffer.to_vector<int64_t>(), (std::vector<int64_t>{-1, -1, want[0], want[1], -1, -1}));
  EXPECT_THROW(sample_tokens(logits, o, into, full({3}, 0.0, DType::i64)), Error);
  EXPECT_THROW(sample_tokens(logits, o, into, full({2}, 0.0, DType::f32)), Error);
}

}  // namespace
}  // namespace ttt
