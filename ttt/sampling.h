// Choosing a token from logits, as Moshi's LMGen does (moshi.models.lm): greedy (argmax), or a draw
// from softmax(logits / temperature) restricted to the top_k most likely tokens and/or to the
// smallest set whose probability reaches top_p. Draws come from a seeded Generator: a seed gives
// the same tokens every run.
#pragma once
#include <cstdint>
#include <vector>

#include "core/rng.h"
#include "core/tensor.h"

namespace ttt {

struct SamplingOptions {
  bool greedy = false;
  double temperature = 0.8;
  int64_t top_k = 0;   // 0: no limit
  double top_p = 1.0;  // 1: no limit
};

// logits [B, V] (any device, f32/bf16/f64) -> one token per row.
std::vector<int64_t> sample_tokens(const Tensor& logits, const SamplingOptions& options, Generator& gen);

}  // namespace ttt
