// CUDA batched GEMM through cuBLAS. cuBLAS is column-major; a row-major matrix is its transpose
// in column-major terms, so C = op(A) op(B) (row-major) is computed as C^T = op(B)^T op(A)^T.
#include "core/backend.h"
#include "core/cuda/cuda_check.h"
#include "core/half.h"

namespace ttt::cuda {

// core/cuda/small_matmul.cu: products of at most 4 rows (a streaming step's), when it takes them.
bool small_rows_matmul(const Tensor& a, const Tensor& b, const Tensor& c, const MatmulArgs& g);

void matmul(const Tensor& a, const Tensor& b, const Tensor& c, const MatmulArgs& g) {
  if (g.k == 0) {  // an empty sum: C = 0 (compute::matmul_region refuses k = 0: C is whole here)
    if (!g.accumulate) fill(c, 0.0);
    return;
  }
  if (small_rows_matmul(a, b, c, g)) return;
  const float one = 1.0f, beta = g.accumulate ? 1.0f : 0.0f;  // C = op(A) op(B) + beta C
  const cublasOperation_t op_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int m = static_cast<int>(g.m), n = static_cast<int>(g.n), k = static_cast<int>(g.k);
  // row lengths of the stored A, B and C (their column-major leading dims)
  const int lda = static_cast<int>(matmul_lda(g)), ldb = static_cast<int>(matmul_ldb(g));
  const int ldc = static_cast<int>(matmul_ldc(g));
  if (a.dtype() == DType::bf16) {  // bf16 operands on the tensor cores, f32 sums; C in bf16 or f32
    const bool c_bf16 = c.dtype() == DType::bf16;
    void* c_at = static_cast<char*>(c.raw_data()) + g.offset_c * static_cast<int64_t>(dtype_size(c.dtype()));
    TTT_CUBLAS_CHECK(cublasGemmStridedBatchedEx(cublas_handle(), op_b, op_a, n, m, k, &one, b.data<bf16>() + g.offset_b,
                                                CUDA_R_16BF, ldb, g.stride_b, a.data<bf16>() + g.offset_a, CUDA_R_16BF, lda,
                                                g.stride_a, &beta, c_at, c_bf16 ? CUDA_R_16BF : CUDA_R_32F, ldc, g.stride_c,
                                                static_cast<int>(g.batch), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return;
  }
  if (g.precision == MatmulPrecision::bf16) {  // bf16 tensor cores on the f32 operands, f32 sums
    TTT_CUBLAS_CHECK(cublasGemmStridedBatchedEx(cublas_handle(), op_b, op_a, n, m, k, &one, b.data<float>() + g.offset_b,
                                                CUDA_R_32F, ldb, g.stride_b, a.data<float>() + g.offset_a, CUDA_R_32F, lda,
                                                g.stride_a, &beta, c.data<float>() + g.offset_c, CUDA_R_32F, ldc, g.stride_c,
                                                static_cast<int>(g.batch), CUBLAS_COMPUTE_32F_FAST_16BF, CUBLAS_GEMM_DEFAULT));
    return;
  }
  const bool plain = g.lda == 0 && g.ldb == 0 && g.ldc == 0 && g.offset_a == 0 && g.offset_b == 0 && g.offset_c == 0;
  if (g.m == 1 && !g.trans_a && plain && g.precision == MatmulPrecision::f32) {
    // one row (a streaming TTT step's x W0 per sequence and head): cuBLAS's batched matrix-vector
    // product, not a GEMM tile that is 1 row of 64 busy. B [k, n] row-major is [n, k] column-major
    // (y = B x); B [n, k] transposed is [k, n] column-major (y = B^T x).
    TTT_CUBLAS_CHECK(cublasSetMathMode(cublas_handle(), CUBLAS_DEFAULT_MATH));
    TTT_CUBLAS_CHECK(cublasSgemvStridedBatched(cublas_handle(), g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, g.trans_b ? k : n,
                                               g.trans_b ? n : k, &one, b.data<float>(), g.trans_b ? k : n, g.stride_b,
                                               a.data<float>(), 1, g.stride_a, &beta, c.data<float>(), 1, g.stride_c,
                                               static_cast<int>(g.batch)));
    return;
  }
  // TF32 tensor cores only when asked (compute::set_matmul_precision); the mode is per handle
  const bool tf32 = g.precision == MatmulPrecision::tf32;
  TTT_CUBLAS_CHECK(cublasSetMathMode(cublas_handle(), tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  TTT_CUBLAS_CHECK(cublasSgemmStridedBatched(cublas_handle(), op_b, op_a, n, m, k, &one, b.data<float>() + g.offset_b, ldb,
                                             g.stride_b, a.data<float>() + g.offset_a, lda, g.stride_a, &beta,
                                             c.data<float>() + g.offset_c, ldc, g.stride_c, static_cast<int>(g.batch)));
}

}  // namespace ttt::cuda
