// Shape and layout ops. Their backward moves the gradient back to where each element came from.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "core/compute.h"
#include "core/error.h"

namespace ttt {

using V = std::vector<Tensor>;

Tensor reshape(const Tensor& x, Shape shape) {
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      TTT_CHECK(infer < 0, "reshape", "only one extent may be -1 in ", shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    TTT_CHECK(known > 0 && x.numel() % known == 0, "reshape", "cannot reshape ", x.describe(), " to ", shape_str(shape));
    shape[infer] = x.numel() / known;
  }
  TTT_CHECK(numel_of(shape) == x.numel(), "reshape", "cannot reshape ", x.describe(), " (", x.numel(), " elements) to ",
            shape_str(shape), " (", numel_of(shape), " elements)");
  return record(view_shape(x, shape), "reshape", {x}, [s = x.shape()](const Tensor& g) { return V{view_shape(g, s)}; });
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  dim = normalize_dim(dim, x.dim() + 1, "unsqueeze");
  Shape s = x.shape();
  s.insert(s.begin() + dim, 1);
  return reshape(x, s);
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  dim = normalize_dim(dim, x.dim(), "squeeze");
  TTT_CHECK(x.shape()[dim] == 1, "squeeze", "dim ", dim, " of ", x.describe(), " has extent ", x.shape()[dim], ", not 1");
  Shape s = x.shape();
  s.erase(s.begin() + dim);
  return reshape(x, s);
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& perm) {
  Tensor y = compute::permute(x, perm);
  std::vector<int64_t> inverse(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inverse[normalize_dim(perm[i], x.dim(), "permute")] = static_cast<int64_t>(i);
  return record(y, "permute", {x}, [inverse](const Tensor& g) { return V{compute::permute(g, inverse)}; });
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  std::vector<int64_t> perm(x.dim());
  for (int64_t i = 0; i < x.dim(); ++i) perm[i] = i;
  std::swap(perm[normalize_dim(d0, x.dim(), "transpose")], perm[normalize_dim(d1, x.dim(), "transpose")]);
  return permute(x, perm);
}

Tensor expand(const Tensor& x, const Shape& shape) {
  return record(compute::expand(x, shape), "expand", {x}, [s = x.shape()](const Tensor& g) { return V{compute::sum_to(g, s)}; });
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end) {
  dim = normalize_dim(dim, x.dim(), "slice");
  const int64_t n = x.shape()[dim];
  int64_t s = start < 0 ? start + n : start;
  s = std::clamp<int64_t>(s, 0, n);  // the same clamping compute::slice applies
  Tensor y = compute::slice(x, dim, start, end);
  return record(y, "slice", {x},
                [shape = x.shape(), dim, s](const Tensor& g) { return V{compute::slice_backward(g, shape, dim, s)}; });
}

Tensor cat(const std::vector<Tensor>& xs, int64_t dim) {
  Tensor y = compute::cat(xs, dim);
  dim = normalize_dim(dim, y.dim(), "cat");
  std::vector<int64_t> sizes;
  for (const Tensor& x : xs) sizes.push_back(x.shape()[dim]);
  return record(y, "cat", xs, [sizes, dim](const Tensor& g) {
    V grads;
    int64_t at = 0;
    for (int64_t s : sizes) {
      grads.push_back(compute::slice(g, dim, at, at + s));
      at += s;
    }
    return grads;
  });
}

Tensor stack(const std::vector<Tensor>& xs, int64_t dim) {
  TTT_CHECK(!xs.empty(), "stack", "needs at least one tensor");
  dim = normalize_dim(dim, xs[0].dim() + 1, "stack");
  std::vector<Tensor> parts;
  for (const Tensor& x : xs) parts.push_back(unsqueeze(x, dim));
  return cat(parts, dim);
}

// One node with one output per part: backward concatenates the parts' gradients (zeros for a
// part that received none), so gradient traffic is the input's size, not parts x input size.
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  dim = normalize_dim(dim, x.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) total += s;
  TTT_CHECK(total == x.shape()[dim], "split", "sizes add up to ", total, " but dim ", dim, " of ", x.describe(), " has ",
            x.shape()[dim]);
  std::vector<Tensor> parts;
  int64_t at = 0;
  for (int64_t s : sizes) {
    parts.push_back(compute::slice(x, dim, at, at + s));
    at += s;
  }
  return record_multi(parts, "split", {x},
                      [shape = x.shape(), sizes, dim, dtype = x.dtype(), device = x.device()](const std::vector<Tensor>& g) {
                        std::vector<Tensor> pieces;
                        for (size_t i = 0; i < sizes.size(); ++i) {
                          if (g[i].defined()) {
                            pieces.push_back(g[i]);
                          } else {
                            Shape s = shape;
                            s[dim] = sizes[i];
                            pieces.push_back(zeros(s, dtype, device));
                          }
                        }
                        return V{compute::cat(pieces, dim)};
                      });
}

std::vector<Tensor> unstack(const Tensor& x, int64_t dim) {
  dim = normalize_dim(dim, x.dim(), "unstack");
  std::vector<Tensor> parts = split(x, std::vector<int64_t>(x.shape()[dim], 1), dim);
  for (Tensor& p : parts) p = squeeze(p, dim);
  return parts;
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  const int64_t n = x.size(dim);
  TTT_CHECK(chunks > 0 && n % chunks == 0, "chunk", "cannot cut dim ", dim, " of ", x.describe(), " into ", chunks,
            " equal parts");
  return split(x, std::vector<int64_t>(chunks, n / chunks), dim);
}

Tensor flip(const Tensor& x, int64_t dim) {
  return record(compute::flip(x, dim), "flip", {x}, [dim](const Tensor& g) { return V{compute::flip(g, dim)}; });
}

Tensor tril(const Tensor& x, int64_t k) {
  return record(compute::tri(x, k, true), "tril", {x}, [k](const Tensor& g) { return V{compute::tri(g, k, true)}; });
}

Tensor triu(const Tensor& x, int64_t k) {
  return record(compute::tri(x, k, false), "triu", {x}, [k](const Tensor& g) { return V{compute::tri(g, k, false)}; });
}

Tensor clone(const Tensor& x) {
  return record(clone_data(x), "clone", {x}, [](const Tensor& g) { return V{g}; });
}

Tensor cast(const Tensor& x, DType dtype) {
  TTT_CHECK(x.defined() && is_floating(x.dtype()) && is_floating(dtype), "cast", "converts between floating dtypes, asked ",
            dtype_name(dtype), " for ", x.describe());
  if (x.dtype() == dtype) return x;
  return record(to_dtype(x, dtype), "cast", {x}, [from = x.dtype()](const Tensor& g) { return V{to_dtype(g, from)}; });
}

}  // namespace ttt
