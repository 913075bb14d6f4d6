#include "autograd/node.h"

#include <atomic>

#include "autograd/grad_mode.h"
#include "core/error.h"

namespace ttt {

namespace {
std::atomic<uint64_t> g_next_sequence{0};
}

Node::Node(std::string name, std::vector<Edge> inputs, std::vector<Shape> input_shapes, BackwardFn backward)
    : name_(std::move(name)),
      sequence_(g_next_sequence++),
      inputs_(std::move(inputs)),
      input_shapes_(std::move(input_shapes)),
      backward_(std::move(backward)) {}

std::vector<Tensor> Node::apply(const Tensor& grad_output) {
  TTT_CHECK(backward_ != nullptr, "backward", "the graph through '", name_,
            "' was already freed by an earlier backward(); pass retain_graph=true to the first call "
            "to backward through it twice");
  return backward_(grad_output);
}

bool should_record(std::initializer_list<const Tensor*> inputs) {
  if (!GradMode::enabled()) return false;
  for (const Tensor* t : inputs)
    if (t->requires_grad()) return true;
  return false;
}

bool should_record(const std::vector<Tensor>& inputs) {
  if (!GradMode::enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.requires_grad()) return true;
  return false;
}

Tensor record(Tensor out, const char* name, const std::vector<Tensor>& inputs, BackwardFn backward) {
  if (!should_record(inputs)) return out;
  std::vector<Edge> edges;
  std::vector<Shape> shapes;
  edges.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    Edge e;
    if (t.requires_grad()) {
      if (t.is_leaf()) e.leaf = t.autograd_meta();
      else e.fn = t.grad_fn();
    }
    edges.push_back(std::move(e));
    shapes.push_back(t.defined() ? t.shape() : Shape{});
  }
  out.set_grad_fn(std::make_shared<Node>(name, std::move(edges), std::move(shapes), std::move(backward)));
  return out;
}

}  // namespace ttt
