// The fused scan on the CPU: scan_algo.h run with plain loops and BLAS products, one sequence
// after another. It is the readable twin of the CUDA kernel and what the f64 gradchecks of
// use_kernel exercise.
#include <cblas.h>

#include <algorithm>
#include <functional>
#include <type_traits>
#include <vector>

#include "core/half.h"
#include "ttt/kernels/scan_kernels.h"

namespace ttt::scan {

namespace {

// Steps run one after another. A group of steps that together() declares independent runs in
// order, or, with set_cpu_groups_reversed(true), in reverse order at the group's end: a step that
// read what another step of its group writes would then see a different value, so the tests
// that compare the two orders check the independence the GPU relies on (it runs a group's steps
// with no barrier between them).
bool g_groups_reversed = false;

struct CpuExec {
  std::vector<std::function<void()>> group;  // the open group's steps (reversed mode only)
  bool recording = false;
  MatmulPrecision precision = MatmulPrecision::f32;  // of the f32 products

  template <class Step>
  void run(Step step) {
    if (recording)
      group.emplace_back(step);
    else
      step();
  }

  // C = alpha op(A) op(B) + beta C (beta == 0: C is not read), row-major: BLAS's gemm exactly.
  // With a reduced precision the f32 operands are rounded first (a tensor core's inputs), the sums
  // stay f32.
  template <class T>
  void gemm(int M, int N, int K, T alpha, const T* A, int lda, bool ta, const T* B, int ldb, bool tb, T beta, T* C, int ldc) {
    const MatmulPrecision p = precision;
    run([=] {
      const CBLAS_TRANSPOSE opa = ta ? CblasTrans : CblasNoTrans, opb = tb ? CblasTrans : CblasNoTrans;
      if constexpr (std::is_same_v<T, float>) {
        if (p == MatmulPrecision::f32) {
          cblas_sgemm(CblasRowMajor, opa, opb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        } else {
          // op(A) is M x K: stored as M rows of K (ta false) or K rows of M, lda apart; likewise B
          const std::vector<float> a = rounded(A, ta ? K : M, ta ? M : K, lda, p);
          const std::vector<float> b = rounded(B, tb ? N : K, tb ? K : N, ldb, p);
          cblas_sgemm(CblasRowMajor, opa, opb, M, N, K, alpha, a.data(), ta ? M : K, b.data(), tb ? K : N, beta, C, ldc);
        }
      } else
        cblas_dgemm(CblasRowMajor, opa, opb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    });
  }
  // rows x cols values read `ld` apart, each rounded to TF32 or bf16, packed densely
  static std::vector<float> rounded(const float* m, int rows, int cols, int ld, MatmulPrecision p) {
    std::vector<float> out(static_cast<size_t>(rows) * static_cast<size_t>(cols));
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) {
        const float v = m[static_cast<size_t>(r) * static_cast<size_t>(ld) + static_cast<size_t>(c)];
        out[static_cast<size_t>(r) * static_cast<size_t>(cols) + static_cast<size_t>(c)] =
            p == MatmulPrecision::tf32 ? round_to_tf32(v) : round_to_bf16(v);
      }
    return out;
  }
  template <class F>
  void each(int n, F f) {
    run([=] {
      for (int i = 0; i < n; ++i) f(i);
    });
  }
  template <class Read, class Write>
  void each(int n, Read read, Write write) {
    run([=] {
      for (int i = 0; i < n; ++i) write(i, read(i));
    });
  }
  // One worker per row: the row's loops run whole and its sums are the partial sums themselves.
  struct Row {
    static constexpr int lane = 0, lanes = 1;
    template <class T>
    T sum(T v) const {
      return v;
    }
  };
  template <class F>
  void each_row(int n, F f) {
    run([=] {
      for (int r = 0; r < n; ++r) f(r, Row{});
    });
  }
  template <class T>
  void copy(T* dst, const T* src, int n) {
    run([=] { std::copy(src, src + n, dst); });
  }

  struct Together {
    CpuExec& ex;
    ~Together() {
      ex.recording = false;
      for (auto step = ex.group.rbegin(); step != ex.group.rend(); ++step) (*step)();
      ex.group.clear();
    }
  };
  Together together() {
    recording = g_groups_reversed;
    return Together{*this};
  }
};

// Every sequence, one after another, forward or backward.
template <class T>
void run_sequences(bool forward, const ScanShape& s, const SequenceArgs<T>& all, MatmulPrecision precision) {
  CpuExec ex;
  ex.precision = precision;
  for (int i = 0; i < s.sequences; ++i) {
    const SequenceArgs<T> a = sequence_args(s, all, i);
    Sequence<T, CpuExec> sequence(s, a, ex);
    if (forward)
      sequence.forward();
    else
      sequence.backward();
  }
}

}  // namespace

void set_cpu_groups_reversed(bool reversed) { g_groups_reversed = reversed; }

template <class T>
void forward_cpu(const ScanShape& s, const SequenceArgs<T>& all, MatmulPrecision precision) {
  run_sequences(true, s, all, precision);
}

template <class T>
void backward_cpu(const ScanShape& s, const SequenceArgs<T>& all, MatmulPrecision precision) {
  run_sequences(false, s, all, precision);
}

template void forward_cpu<float>(const ScanShape&, const SequenceArgs<float>&, MatmulPrecision);
template void forward_cpu<double>(const ScanShape&, const SequenceArgs<double>&, MatmulPrecision);
template void backward_cpu<float>(const ScanShape&, const SequenceArgs<float>&, MatmulPrecision);
template void backward_cpu<double>(const ScanShape&, const SequenceArgs<double>&, MatmulPrecision);

}  // namespace ttt::scan
