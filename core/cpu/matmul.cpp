// CPU batched GEMM through OpenBLAS (CBLAS, row-major).
#include <cblas.h>

#include "core/backend.h"
#include "core/cpu/dispatch.h"

namespace ttt::cpu {

void matmul(const Tensor& a, const Tensor& b, const Tensor& c, const MatmulArgs& g) {
  const CBLAS_TRANSPOSE ta = g.trans_a ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE tb = g.trans_b ? CblasTrans : CblasNoTrans;
  // Leading dims of the stored (untransposed) row-major matrices.
  const int lda = static_cast<int>(g.trans_a ? g.m : g.k);
  const int ldb = static_cast<int>(g.trans_b ? g.k : g.n);
  const int m = static_cast<int>(g.m), n = static_cast<int>(g.n), k = static_cast<int>(g.k);
  if (g.k == 0) {  // BLAS leaves C untouched for k = 0; the product of empty sums is zero
    fill(c, 0.0);
    return;
  }
  for (int64_t i = 0; i < g.batch; ++i) {
    if (a.dtype() == DType::f32)
      cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a.data<float>() + i * g.stride_a, lda,
                  b.data<float>() + i * g.stride_b, ldb, 0.0f, c.data<float>() + i * g.stride_c, n);
    else
      cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, a.data<double>() + i * g.stride_a, lda,
                  b.data<double>() + i * g.stride_b, ldb, 0.0, c.data<double>() + i * g.stride_c, n);
  }
}

}  // namespace ttt::cpu
