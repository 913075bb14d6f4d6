// backward(): reverse-mode differentiation over the tape recorded by the ops.
#pragma once
#include "core/tensor.h"

namespace ttt {

// Computes d(root)/d(leaf) for every leaf with requires_grad reachable from root and ADDS it to
// leaf.grad(). root must require grad; a non-scalar root needs an explicit `grad` of its shape.
// Saved tensors are freed as each node runs unless retain_graph is true.
void backward(const Tensor& root, const Tensor& grad = Tensor(), bool retain_graph = false);

// Sets .grad of each tensor to undefined (the next backward writes a fresh gradient).
void zero_grad(const std::vector<Tensor>& params);

}  // namespace ttt
