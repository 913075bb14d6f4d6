// Fault injection for the reliability tests: the environment variable TTT_FAULT lists
// failpoints as name:step pairs, e.g. TTT_FAULT=nan_grad:3,kill_in_checkpoint:4.
//   nan_grad:N             after the backward of step N, the first trainable gradient becomes NaN
//   kill_in_checkpoint:N   the process SIGKILLs itself half-way through writing step N's checkpoint
// Unset in normal use; the checks cost one string lookup.
#pragma once
#include <cstdint>

namespace ttt {

bool fault_at(const char* name, int64_t step);

}  // namespace ttt
