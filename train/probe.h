// ttt-probe's engine: one forward and backward of a TTT layer built by make_ttt, from given
// weights, input and upstream gradient. The fixture tests call it; so does the ttt-probe tool.
#pragma once
#include <vector>

#include "nn/module.h"
#include "ttt/config.h"
#include "ttt/seq_metadata.h"

namespace ttt {

struct ProbeResult {
  Tensor y;                            // the output [B, L, C]
  std::vector<nn::NamedTensor> grads;  // "grad.x" and "grad.<parameter name>"
};

// Loads `weights` (every parameter, strict), runs y = layer(x, meta), backward of sum(y * dy).
// Computes in `dtype` on `device`; results come back on the cpu.
ProbeResult run_probe(const TTTConfig& config, const std::vector<nn::NamedTensor>& weights, const Tensor& x, const Tensor& dy,
                      const SeqMetadata& meta, Device device, DType dtype);

}  // namespace ttt
