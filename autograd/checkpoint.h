// Activation checkpointing: trade compute for memory. checkpoint(fn, inputs) runs fn without
// recording its internals, so none of its intermediate tensors are kept; backward runs fn again
// with recording on and backpropagates through that fresh graph. The TTT scan uses it to keep
// inner weights only every k mini-batches (docs/spec/TTT_SPEC.md section 6, scan_checkpoint_group).
//
// fn must be a pure function of its inputs and of `params`, the leaves it reads without receiving
// them (a module's parameters): backward's recomputation accumulates their gradients directly.
// They count in deciding whether to checkpoint at all, so a layer with trainable parameters is
// checkpointed even when its input needs no gradient (the first trainable layer over a frozen
// stem), and the node holds an edge to each, so the engine knows their gradients are complete once
// it has run. Any other tensor it captures would be missed (or, with history, backpropagated into
// twice). Results are identical with and without checkpointing: the recomputation runs the same ops
// on the same values.
#pragma once
#include <functional>
#include <vector>

#include "core/tensor.h"

namespace ttt {

using CheckpointFn = std::function<Tensor(const std::vector<Tensor>&)>;

Tensor checkpoint(const CheckpointFn& fn, const std::vector<Tensor>& inputs, const std::vector<Tensor>& params = {});

// Flattens tensors into one 1-D tensor and back: a checkpointed function has one output, so a
// function with several results packs them (unpack is differentiable: slices and reshapes).
Tensor pack(const std::vector<Tensor>& parts);
std::vector<Tensor> unpack(const Tensor& packed, const std::vector<Shape>& shapes);

}  // namespace ttt
