// Reductions over dims. Backward broadcasts the output gradient back over the reduced dims.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "core/compute.h"

namespace ttt {

using V = std::vector<Tensor>;

namespace {

std::vector<int64_t> normalized_dims(const Tensor& x, std::vector<int64_t> dims) {
  if (dims.empty())
    for (int64_t d = 0; d < x.dim(); ++d) dims.push_back(d);
  for (auto& d : dims) d = normalize_dim(d, x.dim(), "reduce");
  return dims;
}

// x's shape with every reduced dim set to 1 (the keepdim shape).
Shape kept_shape(const Shape& s, const std::vector<int64_t>& dims) {
  Shape k = s;
  for (auto d : dims) k[d] = 1;
  return k;
}

int64_t reduced_count(const Shape& s, const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (auto d : dims) n *= s[d];
  return n;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  auto dims = normalized_dims(x, dims_in);
  Tensor y = compute::reduce(ReduceOp::sum, x, dims, keepdim);
  return record(y, "sum", {x}, [shape = x.shape(), kept = kept_shape(x.shape(), dims)](const Tensor& g) {
    return V{compute::expand(view_shape(g, kept), shape)};
  });
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  auto dims = normalized_dims(x, dims_in);
  const int64_t n = reduced_count(x.shape(), dims);
  return affine(sum(x, dims, keepdim), 1.0 / static_cast<double>(n), 0.0);
}

// The gradient goes to the positions equal to the maximum, split evenly among ties.
Tensor max(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  auto dims = normalized_dims(x, dims_in);
  Tensor y = compute::reduce(ReduceOp::max, x, dims, keepdim);
  Shape kept = kept_shape(x.shape(), dims);
  return record(y, "max", {x}, [x = x.detach(), y = y.detach(), kept, dims](const Tensor& g) {
    Tensor hit = compute::binary(BinaryOp::eq, x, view_shape(y, kept));
    Tensor ties = compute::reduce(ReduceOp::sum, hit, dims, true);
    Tensor share = compute::binary(BinaryOp::div, hit, ties);
    return V{compute::binary(BinaryOp::mul, share, view_shape(g, kept))};
  });
}

// sum((x - mean)^2) / (n - 1) (unbiased) or / n; composed of differentiable ops.
Tensor var(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim, bool unbiased) {
  auto dims = normalized_dims(x, dims_in);
  const int64_t n = reduced_count(x.shape(), dims);
  Tensor centered = sub(x, mean(x, dims, true));
  const double denom = static_cast<double>(unbiased ? n - 1 : n);
  return affine(sum(square(centered), dims, keepdim), 1.0 / denom, 0.0);
}

}  // namespace ttt
