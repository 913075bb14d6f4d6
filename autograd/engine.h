// backward(): reverse-mode differentiation over the tape recorded by the ops.
#pragma once
#include <functional>

#include "core/tensor.h"

namespace ttt {

// Computes d(root)/d(leaf) for every leaf with requires_grad reachable from root and ADDS it to
// leaf.grad(). root must require grad; a non-scalar root needs an explicit `grad` of its shape.
// Saved tensors are freed as each node runs unless retain_graph is true.
void backward(const Tensor& root, const Tensor& grad = Tensor(), bool retain_graph = false);

// Called once for each leaf whose gradient is complete, as soon as no node left to run can add to
// it, while the rest of backward still runs: data parallelism launches that gradient's all-reduce
// there (train/grad_buckets.h). Leaves are told in the order backward completes them; a leaf no
// node reached is not told. Nested backwards (a checkpoint's recomputation) tell nothing. An
// empty function is a plain backward.
using LeafGradReady = std::function<void(AutogradMeta& leaf)>;
void backward(const Tensor& root, const LeafGradReady& on_leaf_ready, const Tensor& grad = Tensor());

// Sets .grad of each tensor to undefined (the next backward writes a fresh gradient).
void zero_grad(const std::vector<Tensor>& params);

}  // namespace ttt
