// One entry of the tape: an op that ran forward with at least one input requiring grad.
//
// The tape is the order in which nodes were created: each node gets an increasing sequence
// number, and backward() replays the nodes reachable from the loss in decreasing sequence order
// (the reverse of the forward pass, a Wengert list). Nodes are owned by the tensors they produced
// (grad_fn), so a graph nobody can reach any more frees itself; there is no global list to clear.
//
// A node holds, for each input, where its gradient goes (an Edge): into the node that produced
// that input, or into the .grad of a leaf. Its backward function maps the gradient of the output
// to one gradient per input; the tensors it saved from the forward pass live in that closure and
// are freed right after it runs.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace ttt {

struct Edge {
  std::shared_ptr<Node> fn;  // the input was produced by this op (as its output `output`), or
  int output = 0;
  std::shared_ptr<AutogradMeta> leaf;  // the input is a leaf that accumulates .grad
  bool active() const { return fn || leaf; }
};

// Most ops have one output: their backward maps its gradient to one gradient per input.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;
// An op with several outputs gets one gradient per output (undefined where none arrived).
using MultiBackwardFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& grad_outputs)>;
// An op whose backward can add its gradients to sums the engine has already gathered (a product's
// GEMM with beta = 1, instead of a product and then an add): sums[i], where defined, is input i's
// gradient so far, held by nobody else. The backward may add its contribution into it in place and
// return that same tensor as input i's gradient; or ignore it and return its own gradient, which
// the engine then adds as usual.
using AccumulatingBackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output, const std::vector<Tensor>& sums)>;

class Node {
 public:
  Node(std::string name, std::vector<Edge> inputs, std::vector<Shape> input_shapes, int num_outputs, MultiBackwardFn backward);
  // A one-output node whose backward may add into the sums the engine lends it.
  Node(std::string name, std::vector<Edge> inputs, std::vector<Shape> input_shapes, AccumulatingBackwardFn backward);

  const std::string& name() const { return name_; }
  // The profiler's region when the node was made ("" unless TTT_PROFILE is set; core/profile.h).
  const std::string& profile_region() const { return profile_region_; }
  uint64_t sequence() const { return sequence_; }
  const std::vector<Edge>& inputs() const { return inputs_; }
  const Shape& input_shape(size_t i) const { return input_shapes_[i]; }
  int num_outputs() const { return num_outputs_; }

  // Gradients for each input (undefined where not needed). Throws if already released.
  // `sums`: one per input, what accumulates() nodes may add into (see AccumulatingBackwardFn).
  std::vector<Tensor> apply(const std::vector<Tensor>& grad_outputs, const std::vector<Tensor>& sums = {});
  bool accumulates() const { return accumulating_ != nullptr; }
  // Frees the saved tensors (after backward unless retain_graph).
  void release() {
    backward_ = nullptr;
    accumulating_ = nullptr;
  }

 private:
  std::string name_;
  std::string profile_region_;
  uint64_t sequence_;
  std::vector<Edge> inputs_;
  std::vector<Shape> input_shapes_;
  int num_outputs_;
  MultiBackwardFn backward_;
  AccumulatingBackwardFn accumulating_;
};

// True when recording is on and some input requires grad.
bool should_record(const std::vector<Tensor>& inputs);

// Attaches a new tape node to `out` when should_record(inputs); returns out either way.
Tensor record(Tensor out, const char* name, const std::vector<Tensor>& inputs, BackwardFn backward);
// The same for an op whose backward can add into the engine's sums (AccumulatingBackwardFn).
Tensor record_accumulating(Tensor out, const char* name, const std::vector<Tensor>& inputs, AccumulatingBackwardFn backward);
// The same for an op with several outputs (one node; output i knows it is output i).
std::vector<Tensor> record_multi(std::vector<Tensor> outs, const char* name, const std::vector<Tensor>& inputs,
                                 MultiBackwardFn backward);

}  // namespace ttt
