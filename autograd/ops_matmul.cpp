// Matrix products. With C = op(A) op(B) (op = optional transpose) and upstream gradient G:
//   dA = G op(B)^T, stored transposed when A was used transposed: dA = op(B) G^T;
//   dB = op(A)^T G, stored transposed when B was used transposed: dB = G^T op(A).
// Each transpose is a flag to the GEMM, never a copy. Broadcast batch dims are summed back.
// matmul_add (C = c + op(A) op(B)) passes G to c unchanged.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "core/compute.h"
#include "core/error.h"

namespace ttt {

namespace {

// The shape of op(a) op(b): broadcast batch dims, then rows and columns.
Shape product_shape(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  Shape shape =
      broadcast_shapes(Shape(a.shape().begin(), a.shape().end() - 2), Shape(b.shape().begin(), b.shape().end() - 2), "matmul");
  shape.push_back(a.size(ta ? -1 : -2));
  shape.push_back(b.size(tb ? -2 : -1));
  return shape;
}

// op(x) op(y) as input `shape`'s gradient: added into `sum` (the engine's gradient so far, lent to
// this backward) with one GEMM when the product already has that shape; otherwise a product,
// summed over broadcast batch dims, that the engine adds.
Tensor gradient_product(const Tensor& x, const Tensor& y, bool tx, bool ty, const Shape& shape, const Tensor& sum) {
  if (sum.defined() && sum.shape() == shape && sum.dtype() == x.dtype() && product_shape(x, y, tx, ty) == shape) {
    compute::matmul_accumulate(x, y, tx, ty, sum);
    return sum;
  }
  return compute::sum_to(compute::matmul(x, y, tx, ty), shape);
}

}  // namespace

// Only what a gradient needs is kept for backward: dA reads B and dB reads A, so a frozen weight's
// input (the activation x of x W^T with W frozen) is not kept at all.
Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  Tensor c = compute::matmul(a, b, ta, tb);
  const bool na = a.requires_grad(), nb = b.requires_grad();
  return record_accumulating(
      c, "matmul", {a, b},
      [a = nb ? a.detach() : Tensor(), b = na ? b.detach() : Tensor(), a_shape = a.shape(), b_shape = b.shape(), ta, tb, na, nb](
          const Tensor& g, const std::vector<Tensor>& sums) {
        Tensor ga, gb;
        if (na)
          ga = ta ? gradient_product(b, g, tb, true, a_shape, sums[0]) : gradient_product(g, b, false, !tb, a_shape, sums[0]);
        if (nb)
          gb = tb ? gradient_product(g, a, true, ta, b_shape, sums[1]) : gradient_product(a, g, !ta, false, b_shape, sums[1]);
        return std::vector<Tensor>{ga, gb};
      });
}

Tensor matmul_add(Tensor c, const Tensor& a, const Tensor& b, bool ta, bool tb) {
  TTT_CHECK(c.defined() && a.dim() >= 2 && b.dim() >= 2, "matmul_add",
            "needs an addend and two operands of at least 2 dims, got ", c.describe(), ", ", a.describe(), " and ", b.describe());
  const Shape shape = product_shape(a, b, ta, tb);
  const Shape c_shape = c.shape();
  TTT_CHECK(broadcast_shapes(c_shape, shape, "matmul_add") == shape && c.dtype() == a.dtype() && c.device() == a.device(),
            "matmul_add", "the addend ", c.describe(), " must broadcast to the product's ", shape_str(shape),
            " in its dtype and on its device (", a.describe(), " x ", b.describe(), ")");
  const bool nc = c.requires_grad(), na = a.requires_grad(), nb = b.requires_grad();
  // the buffer the GEMM adds into: c's own when this is its only handle and it has the product's
  // shape (a fresh sum nobody else reads), else a copy broadcast to that shape
  Tensor out = c_shape == shape && c.sole_owner() ? c.detach() : compute::expand(c, shape);
  compute::matmul_accumulate(a, b, ta, tb, out);
  std::vector<Tensor> inputs{std::move(c), a, b};
  return record_accumulating(
      out, "matmul_add", inputs,
      [a = nb ? a.detach() : Tensor(), b = na ? b.detach() : Tensor(), c_shape, a_shape = a.shape(), b_shape = b.shape(), ta, tb,
       nc, na, nb](const Tensor& g, const std::vector<Tensor>& sums) {
        Tensor gc, ga, gb;
        if (nc) gc = compute::sum_to(g, c_shape);
        if (na)
          ga = ta ? gradient_product(b, g, tb, true, a_shape, sums[1]) : gradient_product(g, b, false, !tb, a_shape, sums[1]);
        if (nb)
          gb = tb ? gradient_product(g, a, true, ta, b_shape, sums[2]) : gradient_product(a, g, !ta, false, b_shape, sums[2]);
        return std::vector<Tensor>{gc, ga, gb};
      });
}

}  // namespace ttt
