// compute::sample_tokens on the GPU (core/cuda/sampling.cu) picks the CPU's tokens for the same seed
// and draw counter: greedy, top-k, top-p, every candidate of a 2048-token vocabulary, bf16 logits,
// and a candidate set too large for the GPU (sampled on the host). Inside a CUDA graph, each
// replay takes the next draws.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/ops.h"
#include "core/cuda_graph.h"
#include "core/rng.h"
#include "tests/cuda/skip_without_gpu.h"
#include "ttt/sampling.h"

namespace ttt {
namespace {

const Device kGpu = Device::cuda(0);

struct Case {
  const char* name;
  int64_t rows, vocab;
  SamplingOptions options;
  DType dtype = DType::f32;
};

TEST(CudaSampling, PicksTheCpusTokens) {
  SKIP_WITHOUT_GPU();
  const std::vector<Case> cases = {
      {"greedy, text vocabulary", 4, 32001, {true, 1.0, 0, 1.0}},
      {"LMGen's text: T 0.7, top-k 25", 8, 32001, {false, 0.7, 25, 1.0}},
      {"LMGen's audio: T 0.8, top-k 250", 8, 2048, {false, 0.8, 250, 1.0}},
      {"every one of 2048 candidates", 8, 2048, {false, 1.0, 0, 1.0}},
      {"top-k 100 then top-p 0.9", 8, 5000, {false, 1.3, 100, 0.9}},
      {"bf16 logits, top-k 50", 8, 2048, {false, 0.8, 50, 1.0}, DType::bf16},
      {"5000 candidates: on the host", 3, 5000, {false, 1.0, 0, 0.95}},
  };
  Generator gen(17);
  for (const Case& c : cases) {
    // coarse logits (multiples of 1/4) so ties are common: the order must break them as the CPU does
    std::vector<double> values = randn({c.rows, c.vocab}, gen).to_vector<double>();
    for (double& v : values) v = std::round(v * 4.0) / 4.0;
    const Tensor logits = from_vector(values, {c.rows, c.vocab}, c.dtype);
    for (uint64_t seed : {1u, 2u}) {
      DrawStream cpu(seed, Device::cpu()), gpu(seed, kGpu);
      for (int call = 0; call < 3; ++call) {
        const std::vector<int64_t> want = sample_tokens(logits, c.options, cpu).to_vector<int64_t>();
        const Tensor got = sample_tokens(to_device(logits, kGpu), c.options, gpu);
        EXPECT_EQ(got.device(), kGpu);
        EXPECT_EQ(got.to_vector<int64_t>(), want) << c.name << ", seed " << seed << ", call " << call;
      }
      EXPECT_EQ(gpu.counter.to_vector<int64_t>(), cpu.counter.to_vector<int64_t>()) << c.name;
    }
  }
}

TEST(CudaSampling, EachGraphReplayTakesTheNextDraws) {
  SKIP_WITHOUT_GPU();
  Generator gen(5);
  const Tensor logits = randn({4, 2048}, gen);
  const SamplingOptions o{false, 0.8, 250, 1.0};
  DrawStream gpu(3, kGpu), cpu(3, Device::cpu());
  const Tensor on_gpu = to_device(logits, kGpu);
  sample_tokens(on_gpu, o, gpu);  // warm-up outside the capture, as the callers do
  sample_tokens(logits, o, cpu);
  Tensor ids;
  CudaGraph graph;
  graph.capture([&] { ids = sample_tokens(on_gpu, o, gpu); });
  for (int replay = 0; replay < 3; ++replay) {
    graph.replay();
    EXPECT_EQ(ids.to_vector<int64_t>(), sample_tokens(logits, o, cpu).to_vector<int64_t>()) << "replay " << replay;
  }
  EXPECT_EQ(gpu.counter.to_vector<int64_t>(), std::vector<int64_t>{16});
}

}  // namespace
}  // namespace ttt
