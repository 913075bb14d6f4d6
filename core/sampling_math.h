// The part of sampling a token that the CPU and CUDA backends share (compute::sample_tokens), so a
// seed picks the same tokens on both: how candidates are ordered, and how a uniform draw u picks
// one of them once they are ordered.
//
// Order: decreasing logit, ties broken by the lower id. A candidate's 64-bit key holds the logit's
// bits mapped so that unsigned order is float order (upper half) and the id reversed (lower half):
// keys are distinct, and the larger key comes first.
#pragma once
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/scalar_math.h"

namespace ttt::sampling {

TTT_HD uint64_t candidate_key(float logit, int64_t id) {
  if (logit == 0.0f) logit = 0.0f;  // -0 and +0 tie (as they compare), the id decides
  uint32_t bits;
  memcpy(&bits, &logit, sizeof bits);
  bits = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);  // negative floats reversed, below positives
  return (static_cast<uint64_t>(bits) << 32) | (0xFFFFFFFFu - static_cast<uint32_t>(id));
}
TTT_HD int64_t candidate_id(uint64_t key) { return static_cast<int64_t>(0xFFFFFFFFu - static_cast<uint32_t>(key)); }

// The candidates' weights p[i] = exp((logit_i - logit_0) / temperature), in order (p[0] = 1), keep
// of them (the top-k cut). The top-p cut keeps the shortest prefix whose share of the mass reaches
// top_p; the draw u in [0, 1) then walks the prefix. Returns the chosen position in the order.
// One thread runs this (sequential sums: the same rounding on both backends).
TTT_HD int64_t choose_candidate(const double* p, int64_t keep, double top_p, double u) {
  double total = 0;
  for (int64_t i = 0; i < keep; ++i) total += p[i];
  if (top_p < 1.0) {
    double mass = 0;
    for (int64_t i = 0; i < keep; ++i)
      if ((mass += p[i] / total) >= top_p) {
        keep = i + 1;
        break;
      }
    total = 0;
    for (int64_t i = 0; i < keep; ++i) total += p[i];
  }
  double target = u * total;
  for (int64_t i = 0; i < keep; ++i)
    if ((target -= p[i]) < 0) return i;
  return keep - 1;  // u * total rounded up to the sum
}

}  // namespace ttt::sampling
