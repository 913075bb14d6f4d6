#include "autograd/node.h"

#include <atomic>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "core/profile.h"

namespace ttt {

namespace {
std::atomic<uint64_t> g_next_sequence{0};
}

Node::Node(std::string name, std::vector<Edge> inputs, std::vector<Shape> input_shapes, int num_outputs, MultiBackwardFn backward)
    : name_(std::move(name)),
      profile_region_(profile::enabled() ? profile::current_region() : std::string()),
      sequence_(g_next_sequence++),
      inputs_(std::move(inputs)),
      input_shapes_(std::move(input_shapes)),
      num_outputs_(num_outputs),
      backward_(std::move(backward)) {}

Node::Node(std::string name, std::vector<Edge> inputs, std::vector<Shape> input_shapes, AccumulatingBackwardFn backward)
    : Node(std::move(name), std::move(inputs), std::move(input_shapes), 1, nullptr) {
  accumulating_ = std::move(backward);
}

std::vector<Tensor> Node::apply(const std::vector<Tensor>& grad_outputs, const std::vector<Tensor>& sums) {
  TTT_CHECK(backward_ != nullptr || accumulating_ != nullptr, "backward", "the graph through '", name_,
            "' was already freed by an earlier backward(); pass retain_graph=true to the first call "
            "to backward through it twice");
  if (!accumulating_) return backward_(grad_outputs);
  return accumulating_(grad_outputs[0], sums.empty() ? std::vector<Tensor>(inputs_.size()) : sums);
}

bool should_record(const std::vector<Tensor>& inputs) {
  if (!GradMode::enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.requires_grad()) return true;
  return false;
}

namespace {

// The edge and recorded shape of each input.
std::pair<std::vector<Edge>, std::vector<Shape>> input_edges(const std::vector<Tensor>& inputs) {
  std::vector<Edge> edges;
  std::vector<Shape> shapes;
  edges.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    Edge e;
    if (t.requires_grad()) {
      if (t.is_leaf()) {
        e.leaf = t.autograd_meta();
      } else {
        e.fn = t.grad_fn();
        e.output = t.autograd_meta()->output_index;
      }
    }
    edges.push_back(std::move(e));
    shapes.push_back(t.defined() ? t.shape() : Shape{});
  }
  return {std::move(edges), std::move(shapes)};
}

std::shared_ptr<Node> make_node(const char* name, const std::vector<Tensor>& inputs, int num_outputs, MultiBackwardFn backward) {
  auto [edges, shapes] = input_edges(inputs);
  return std::make_shared<Node>(name, std::move(edges), std::move(shapes), num_outputs, std::move(backward));
}

}  // namespace

Tensor record(Tensor out, const char* name, const std::vector<Tensor>& inputs, BackwardFn backward) {
  if (!should_record(inputs)) return out;
  out.set_grad_fn(make_node(name, inputs, 1, [fn = std::move(backward)](const std::vector<Tensor>& g) { return fn(g[0]); }));
  return out;
}

Tensor record_accumulating(Tensor out, const char* name, const std::vector<Tensor>& inputs, AccumulatingBackwardFn backward) {
  if (!should_record(inputs)) return out;
  auto [edges, shapes] = input_edges(inputs);
  out.set_grad_fn(std::make_shared<Node>(name, std::move(edges), std::move(shapes), std::move(backward)));
  return out;
}

std::vector<Tensor> record_multi(std::vector<Tensor> outs, const char* name, const std::vector<Tensor>& inputs,
                                 MultiBackwardFn backward) {
  if (!should_record(inputs)) return outs;
  auto node = make_node(name, inputs, static_cast<int>(outs.size()), std::move(backward));
  for (size_t i = 0; i < outs.size(); ++i) outs[i].set_grad_fn(node, static_cast<int>(i));
  return outs;
}

}  // namespace ttt
