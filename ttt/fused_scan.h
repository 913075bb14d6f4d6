// The fused TTT scan (config use_kernel: true): the same function as composed_scan (inner_scan.h)
// computed by one op whose forward and backward are hand-written loops over the whole sequence
// (kernels/scan_algo.h), on the CPU or as one CUDA kernel launch each way. It is one tape node with
// outputs (out, final weights..., final biases...) and inputs (xq, xk, target, eta, ln_weight,
// ln_bias, weights..., biases...).
//
// Memory: the forward keeps the inner state at the start of every `checkpoint_group`-th
// mini-batch; backward replays one group at a time, keeping that group's states and intermediates.
// Group 0 keeps everything: every state and every mini-batch's intermediates (for TTT-MLP about
// 7 b x 4d floats per mini-batch and head), so backward recomputes nothing.
#pragma once
#include "ttt/inner_scan.h"

namespace ttt {

ScanOutputs fused_scan(const ScanInputs& in, const ScanOptions& opt);

}  // namespace ttt
