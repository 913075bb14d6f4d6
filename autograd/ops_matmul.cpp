// Matrix products. With C = op(A) op(B) (op = optional transpose) and upstream gradient G:
//   dA = G op(B)^T, stored transposed when A was used transposed: dA = op(B) G^T;
//   dB = op(A)^T G, stored transposed when B was used transposed: dB = G^T op(A).
// Each transpose is a flag to the GEMM, never a copy. Broadcast batch dims are summed back.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "core/compute.h"

namespace ttt {

// Only what a gradient needs is kept for backward: dA reads B and dB reads A, so a frozen weight's
// input (the activation x of x W^T with W frozen) is not kept at all.
Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  Tensor c = compute::matmul(a, b, ta, tb);
  const bool na = a.requires_grad(), nb = b.requires_grad();
  return record(c, "matmul", {a, b},
                [a = nb ? a.detach() : Tensor(), b = na ? b.detach() : Tensor(), a_shape = a.shape(), b_shape = b.shape(), ta, tb,
                 na, nb](const Tensor& g) {
                  Tensor ga, gb;
                  if (na) ga = compute::sum_to(ta ? compute::matmul(b, g, tb, true) : compute::matmul(g, b, false, !tb), a_shape);
                  if (nb) gb = compute::sum_to(tb ? compute::matmul(g, a, true, ta) : compute::matmul(a, g, !ta, false), b_shape);
                  return std::vector<Tensor>{ga, gb};
                });
}

}  // namespace ttt
