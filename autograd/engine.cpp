#include "autograd/engine.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "core/compute.h"
#include "core/error.h"
#include "core/profile.h"

namespace ttt {

namespace {

// Leaves own their gradient: the first contribution is taken over when nothing else holds or views
// it, else copied (an op's backward may hand the same tensor to several inputs, or return a view
// of its incoming gradient); later contributions are added.
void accumulate_into_leaf(AutogradMeta& leaf, const Tensor& g) {
  if (!leaf.grad.defined())
    leaf.grad = g.sole_owner() ? g : clone_data(g);
  else
    leaf.grad = compute::binary(BinaryOp::add, leaf.grad, g);
}

void accumulate(Tensor& slot, const Tensor& g) { slot = slot.defined() ? compute::binary(BinaryOp::add, slot, g) : g; }

// The gradients that have reached each node so far, one slot per output of the node.
using PendingGrads = std::unordered_map<Node*, std::vector<Tensor>>;

// The gradient gathered so far for what edge `e` feeds (its producer's slot, or the leaf's .grad),
// or null when none has arrived.
Tensor* gathered_gradient(const Edge& e, PendingGrads& pending) {
  if (e.leaf) return e.leaf->grad.defined() ? &e.leaf->grad : nullptr;
  auto it = pending.find(e.fn.get());
  if (it == pending.end()) return nullptr;
  Tensor& slot = it->second[static_cast<size_t>(e.output)];
  return slot.defined() ? &slot : nullptr;
}

// The sums an accumulating node may add into (autograd/node.h, AccumulatingBackwardFn): each input's
// gradient so far, taken out of its slot when nothing else holds it (so nobody sees the in-place
// write); left in its slot otherwise.
std::vector<Tensor> lend_sums(const Node& node, PendingGrads& pending) {
  std::vector<Tensor> sums(node.inputs().size());
  for (size_t i = 0; i < sums.size(); ++i) {
    Tensor* sum = node.inputs()[i].active() ? gathered_gradient(node.inputs()[i], pending) : nullptr;
    if (!sum) continue;
    sums[i] = std::move(*sum);
    *sum = Tensor();
    if (!sums[i].sole_owner()) std::swap(*sum, sums[i]);
  }
  return sums;
}

// All nodes reachable from `root` (iterative DFS; graphs can be deep).
std::vector<Node*> reachable_nodes(Node* root) {
  std::vector<Node*> order, stack{root};
  std::unordered_set<Node*> seen{root};
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    order.push_back(n);
    for (const Edge& e : n->inputs())
      if (e.fn && seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
  }
  return order;
}

// How many edges into each leaf the nodes still to run hold: a leaf is complete at zero.
std::unordered_map<AutogradMeta*, int> leaf_edge_counts(const std::vector<Node*>& nodes) {
  std::unordered_map<AutogradMeta*, int> counts;
  for (Node* n : nodes)
    for (const Edge& e : n->inputs())
      if (e.leaf) ++counts[e.leaf.get()];
  return counts;
}

void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph, const LeafGradReady* on_leaf_ready) {
  TTT_CHECK(root.defined(), "backward", "called on an undefined tensor");
  TTT_CHECK(root.requires_grad(), "backward", root.describe(),
            " does not require grad: it was computed from no tensor with requires_grad=true, "
            "under a no-grad scope, or was detached");
  Tensor seed = grad;
  if (!seed.defined()) {
    TTT_CHECK(root.numel() == 1, "backward", "root ", root.describe(),
              " is not a scalar: pass an explicit gradient of the same shape, or reduce it first (e.g. sum)");
    seed = ones(root.shape(), root.dtype(), root.device());
  }
  TTT_CHECK(seed.shape() == root.shape() && seed.device() == root.device() && seed.dtype() == root.dtype(), "backward",
            "gradient ", seed.describe(), " does not match root ", root.describe());

  NoGradGuard no_grad;  // backward formulas are not themselves recorded (first-order autograd)
  if (root.is_leaf()) {
    accumulate_into_leaf(*root.autograd_meta(), seed);
    if (on_leaf_ready) (*on_leaf_ready)(*root.autograd_meta());
    return;
  }

  std::vector<Node*> nodes = reachable_nodes(root.grad_fn().get());
  // Reverse tape order: a node runs only after every node that consumed its output.
  std::sort(nodes.begin(), nodes.end(), [](Node* a, Node* b) { return a->sequence() > b->sequence(); });
  PendingGrads pending;
  auto slots = [&](Node* n) -> std::vector<Tensor>& {
    auto& v = pending[n];
    if (v.empty()) v.resize(static_cast<size_t>(n->num_outputs()));
    return v;
  };
  slots(root.grad_fn().get())[static_cast<size_t>(root.autograd_meta()->output_index)] = seed;
  std::unordered_map<AutogradMeta*, int> edges_left;
  if (on_leaf_ready) edges_left = leaf_edge_counts(nodes);
  // after `node` (run or skipped): the leaves it was the last to feed are complete
  auto tell_complete_leaves = [&](Node* node) {
    if (!on_leaf_ready) return;
    for (const Edge& e : node->inputs())
      if (e.leaf && --edges_left[e.leaf.get()] == 0 && e.leaf->grad.defined()) (*on_leaf_ready)(*e.leaf);
  };

  for (Node* node : nodes) {
    auto it = pending.find(node);
    if (it == pending.end()) {  // no gradient reached this node
      tell_complete_leaves(node);
      continue;
    }
    std::vector<Tensor> g = std::move(it->second);
    pending.erase(it);
    std::vector<Tensor> sums;
    if (node->accumulates()) sums = lend_sums(*node, pending);
    // Lent sums go back to their slots whatever the node did: as the new sum when the node added
    // into it, else as it was (the node's own gradient is then added below); also when its
    // backward fails, so that no gradient gathered so far (a leaf's .grad from earlier backward
    // calls) is lost with the error. added[i]: input i's gradient is already in its sum.
    std::vector<bool> added(node->inputs().size(), false);
    std::vector<Tensor> input_grads;
    auto return_sums = [&] {
      for (size_t i = 0; i < sums.size(); ++i) {
        if (!sums[i].defined()) continue;
        const Edge& e = node->inputs()[i];
        Tensor& slot = e.leaf ? e.leaf->grad : slots(e.fn.get())[static_cast<size_t>(e.output)];
        slot = std::move(sums[i]);
        added[i] = i < input_grads.size() && input_grads[i].is_same(slot);
      }
    };
    try {
      // the profiler charges this backward to the region its forward ran in, and to the op
      const std::string& where = node->profile_region();
      profile::Region region(profile::enabled() ? "backward > " + where + (where.empty() ? "" : " > ") + node->name() : "");
      input_grads = node->apply(g, sums);
    } catch (...) {
      return_sums();
      throw;
    }
    return_sums();
    if (!retain_graph) node->release();
    TTT_CHECK(input_grads.size() == node->inputs().size(), "backward", "the backward of '", node->name(), "' returned ",
              input_grads.size(), " gradients for ", node->inputs().size(), " inputs");
    for (size_t i = 0; i < input_grads.size(); ++i) {
      const Edge& e = node->inputs()[i];
      const Tensor& gi = input_grads[i];
      if (added[i]) continue;
      if (!e.active() || !gi.defined()) continue;
      TTT_CHECK(gi.shape() == node->input_shape(i), "backward", "the backward of '", node->name(), "' gave a gradient ",
                gi.describe(), " for input ", i, " of shape ", shape_str(node->input_shape(i)));
      if (e.leaf)
        accumulate_into_leaf(*e.leaf, gi);
      else
        accumulate(slots(e.fn.get())[static_cast<size_t>(e.output)], gi);
    }
    tell_complete_leaves(node);
  }
}

}  // namespace

void backward(const Tensor& root, const Tensor& grad, bool retain_graph) { run_backward(root, grad, retain_graph, nullptr); }

void backward(const Tensor& root, const LeafGradReady& on_leaf_ready, const Tensor& grad) {
  run_backward(root, grad, false, on_leaf_ready ? &on_leaf_ready : nullptr);
}

void zero_grad(const std::vector<Tensor>& params) {
  for (const Tensor& p : params)
    if (p.defined() && p.autograd_meta()) p.autograd_meta()->grad = Tensor();
}

}  // namespace ttt
