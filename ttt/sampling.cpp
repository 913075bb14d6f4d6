#include "ttt/sampling.h"

#include "autograd/ops.h"
#include "core/compute.h"
#include "core/error.h"

namespace ttt {

DrawStream::DrawStream(uint64_t seed_, Device device) : seed(seed_), counter(zeros({1}, DType::i64, device)) {}

namespace {
SampleArgs sample_args(const SamplingOptions& o, uint64_t seed) {
  SampleArgs args;
  args.greedy = o.greedy;
  args.temperature = o.temperature;
  args.top_k = o.top_k;
  args.top_p = o.top_p;
  args.seed = seed;
  return args;
}
}  // namespace

Tensor sample_tokens(const Tensor& logits, const SamplingOptions& o, DrawStream& draws, const Tensor& out) {
  TTT_CHECK(logits.device() == draws.counter.device(), "sample_tokens", "logits on ", logits.device().str(),
            ", the draw counter on ", draws.counter.device().str());
  return compute::sample_tokens(logits.detach(), draws.counter, sample_args(o, draws.seed), out);
}

bool samples_on_gpu(const SamplingOptions& o, int64_t vocab) { return compute::samples_on_gpu(sample_args(o, 0), vocab); }

}  // namespace ttt
