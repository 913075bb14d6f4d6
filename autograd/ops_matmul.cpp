// Matrix products. With C = op(A) op(B) (op = optional transpose) and upstream gradient G:
//   dA = G op(B)^T, stored transposed when A was used transposed: dA = op(B) G^T;
//   dB = op(A)^T G, stored transposed when B was used transposed: dB = G^T op(A).
// Each transpose is a flag to the GEMM, never a copy. Broadcast batch dims are summed back.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "core/compute.h"

namespace ttt {

Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  Tensor c = compute::matmul(a, b, ta, tb);
  return record(c, "matmul", {a, b},
                [a = a.detach(), b = b.detach(), ta, tb, na = a.requires_grad(), nb = b.requires_grad()](const Tensor& g) {
                  Tensor ga, gb;
                  if (na)
                    ga = compute::sum_to(ta ? compute::matmul(b, g, tb, true) : compute::matmul(g, b, false, !tb), a.shape());
                  if (nb)
                    gb = compute::sum_to(tb ? compute::matmul(g, a, true, ta) : compute::matmul(a, g, !ta, false), b.shape());
                  return std::vector<Tensor>{ga, gb};
                });
}

}  // namespace ttt
