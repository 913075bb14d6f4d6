// Choosing a token from logits, as Moshi's LMGen does (moshi.models.lm): greedy (argmax), or a draw
// from softmax(logits / temperature) restricted to the top_k most likely tokens and/or to the
// smallest set whose probability reaches top_p. Draws are Philox numbers keyed by the seed and
// indexed by a counter that lives on the logits' device: a seed gives the same tokens every run,
// on the CPU and on CUDA, and sampling on the GPU never waits for the host (compute::sample_tokens).
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace ttt {

struct SamplingOptions {
  bool greedy = false;
  double temperature = 0.8;
  int64_t top_k = 0;   // 0: no limit
  double top_p = 1.0;  // 1: no limit
};

// Where the next draw comes from: the seed and the counter of the next row's draw (i64 [1]).
struct DrawStream {
  DrawStream(uint64_t seed, Device device);
  uint64_t seed;
  Tensor counter;
};

// logits [B, V] (f32/bf16, or f64 on the CPU) -> one token per row, ids [B] (i64, on the logits'
// device); uses B draws of `draws` (greedy too, so a greedy row does not shift the later draws).
// Given `out` (i64 [B] there), the ids are written into it (a row of a step's token buffer).
Tensor sample_tokens(const Tensor& logits, const SamplingOptions& options, DrawStream& draws, const Tensor& out = Tensor());
// Whether a GPU draws these from `vocab` logits itself (a candidate set up to kMaxSampleCandidates,
// or greedy); else the draw goes through the host, which a CUDA graph cannot record.
bool samples_on_gpu(const SamplingOptions& options, int64_t vocab);

}  // namespace ttt
