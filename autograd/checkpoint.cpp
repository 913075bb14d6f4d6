#include "autograd/checkpoint.h"

#include "autograd/node.h"
#include "autograd/ops.h"

namespace ttt {

Tensor checkpoint(const CheckpointFn& fn, const std::vector<Tensor>& inputs, const std::vector<Tensor>& params) {
  std::vector<Tensor> edges = inputs;  // the node's inputs: fn's, then the parameters it reads
  edges.insert(edges.end(), params.begin(), params.end());
  if (!should_record(edges)) return fn(inputs);
  Tensor out;
  {
    NoGradGuard no_grad;  // forward: keep nothing but the inputs and the result
    out = fn(inputs);
  }
  std::vector<Tensor> saved;
  std::vector<bool> needs;
  for (const Tensor& x : inputs) {
    saved.push_back(x.detach());
    needs.push_back(x.requires_grad());
  }
  const size_t num_params = params.size();
  return record(out, "checkpoint", edges, [fn, saved, needs, num_params](const Tensor& g) {
    // Recompute from fresh leaves that stand for the inputs, then backpropagate into them.
    std::vector<Tensor> leaves;
    for (size_t i = 0; i < saved.size(); ++i) {
      Tensor leaf = saved[i].detach();
      if (needs[i]) leaf.set_requires_grad(true);
      leaves.push_back(leaf);
    }
    Tensor y;
    {
      GradModeGuard record_again(true);
      y = fn(leaves);
    }
    if (y.requires_grad()) backward(y, g);  // the parameters' gradients accumulate here
    std::vector<Tensor> grads;
    for (size_t i = 0; i < leaves.size(); ++i) grads.push_back(needs[i] ? leaves[i].grad() : Tensor());
    grads.resize(grads.size() + num_params);  // undefined: already accumulated above
    return grads;
  });
}

Tensor pack(const std::vector<Tensor>& parts) {
  std::vector<Tensor> flat;
  for (const Tensor& p : parts) flat.push_back(reshape(p, {-1}));
  return cat(flat, 0);
}

std::vector<Tensor> unpack(const Tensor& packed, const std::vector<Shape>& shapes) {
  std::vector<int64_t> sizes;
  for (const Shape& s : shapes) sizes.push_back(numel_of(s));
  std::vector<Tensor> parts = split(packed, sizes, 0);  // checks that the sizes cover `packed`
  for (size_t i = 0; i < parts.size(); ++i) parts[i] = reshape(parts[i], shapes[i]);
  return parts;
}

}  // namespace ttt
