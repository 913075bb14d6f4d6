// What a TTT layer needs to know about the sequence it is given (docs/spec/TTT_SPEC.md section 6). The
// model builds one per forward and passes it down unchanged.
#pragma once
#include <cstdint>

namespace ttt {

struct SeqMetadata {
  // Positions >= valid_length are padding (the same for every row of the batch); -1: none.
  // Padding tokens take no inner-loop step: they never change real outputs or the carried state.
  int64_t valid_length = -1;
  // Position of the first token (global RoPE positions are position_offset + t): a streamed chunk
  // passes the number of tokens before it.
  int64_t position_offset = 0;
  // Start from the inner state set by set_inner_state() instead of the learned initial weights.
  bool continue_from_state = false;
};

}  // namespace ttt
