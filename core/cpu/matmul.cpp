// CPU batched GEMM through OpenBLAS (CBLAS, row-major).
#include <cblas.h>

#include <vector>

#include "core/backend.h"
#include "core/cpu/dispatch.h"
#include "core/half.h"

namespace ttt::cpu {

void matmul(const Tensor& a, const Tensor& b, const Tensor& c, const MatmulArgs& g) {
  const CBLAS_TRANSPOSE ta = g.trans_a ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE tb = g.trans_b ? CblasTrans : CblasNoTrans;
  // Leading dims of the stored (untransposed) row-major matrices.
  const int lda = static_cast<int>(matmul_lda(g)), ldb = static_cast<int>(matmul_ldb(g));
  const int ldc = static_cast<int>(matmul_ldc(g));
  const int m = static_cast<int>(g.m), n = static_cast<int>(g.n), k = static_cast<int>(g.k);
  if (g.k == 0) {                     // BLAS leaves C untouched for k = 0; the product of empty sums is zero
    if (!g.accumulate) fill(c, 0.0);  // (matmul_region refuses k = 0, so C is a whole tensor here)
    return;
  }
  // TF32 / bf16 products: the operands rounded as the tensor cores would, then f32 sums.
  std::vector<float> rounded_a, rounded_b;
  const float *pa = nullptr, *pb = nullptr;
  if (a.dtype() == DType::f32) {
    pa = a.data<float>(), pb = b.data<float>();
    if (g.precision != MatmulPrecision::f32) {
      auto round = [&](const Tensor& t, std::vector<float>& out) {
        const float* p = t.data<float>();
        out.resize(static_cast<size_t>(t.numel()));
        for (size_t i = 0; i < out.size(); ++i)
          out[i] = g.precision == MatmulPrecision::tf32 ? round_to_tf32(p[i]) : round_to_bf16(p[i]);
        return out.data();
      };
      pa = round(a, rounded_a), pb = round(b, rounded_b);
    }
  }
  const double beta = g.accumulate ? 1.0 : 0.0;
  for (int64_t i = 0; i < g.batch; ++i) {
    const int64_t ia = g.offset_a + i * g.stride_a, ib = g.offset_b + i * g.stride_b, ic = g.offset_c + i * g.stride_c;
    if (a.dtype() == DType::f32)
      cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, pa + ia, lda, pb + ib, ldb, static_cast<float>(beta),
                  c.data<float>() + ic, ldc);
    else
      cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, a.data<double>() + ia, lda, b.data<double>() + ib, ldb, beta,
                  c.data<double>() + ic, ldc);
  }
}

}  // namespace ttt::cpu
