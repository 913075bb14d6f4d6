// What compute::ttt_stream_step reads and writes (a streaming TTT step's inner part, fused).
#pragma once
#include <vector>

#include "core/tensor.h"

namespace ttt {

// The tensors of a streaming TTT step's inner part (compute::ttt_stream_step), f32, rows r =
// sequence * H + head; d is the inner model's input and output width, b the mini-batch size.
struct TttStepArgs {
  Tensor xq, xk, target;               // [n, d]: the token's query, key and reconstruction target (E1-E2a)
  Tensor eta;                          // [n]: its step size eta_tok (E4-E5)
  Tensor positional;                   // [b]: w_pos of each place in a mini-batch (E6)
  Tensor position;                     // i64 [1] on the device: the stream's position; i = position mod b
  Tensor ln_weight, ln_bias;           // [H, d]: ttt_norm (E8)
  std::vector<Tensor> w0, b0, xs, ds;  // per inner layer l: [n, d_l, d_l+1], [n, d_l+1], [n, b, d_l], [n, b, d_l+1]
  double eps = 1e-6;
  Tensor out;  // [n, d]: xq + LN(the query's output) (E14)
};

}  // namespace ttt
