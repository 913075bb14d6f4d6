// The fused scan on the CPU: scan_algo.h run with plain loops, one sequence after another. It is
// the readable twin of the CUDA kernel and what the f64 gradchecks of use_kernel exercise.
#include <algorithm>

#include "ttt/kernels/scan_kernels.h"

namespace ttt::scan {

namespace {

struct CpuExec {
  // C = alpha op(A) op(B) + beta C (beta == 0: C is not read).
  template <class T>
  void gemm(int M, int N, int K, T alpha, const T* A, int lda, bool ta, const T* B, int ldb, bool tb, T beta, T* C,
            int ldc) {
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) {
        T acc = 0;
        for (int k = 0; k < K; ++k) acc += (ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
        C[i * ldc + j] = alpha * acc + (beta == T(0) ? T(0) : beta * C[i * ldc + j]);
      }
  }
  template <class F>
  void each(int n, F f) {
    for (int i = 0; i < n; ++i) f(i);
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
    for (int r = 0; r < n; ++r) f(r, Row{});
  }
  template <class T>
  void copy(T* dst, const T* src, int n) {
    std::copy(src, src + n, dst);
  }
  // Steps run one after another here: a group of independent steps needs nothing.
  struct Together {
    ~Together() {}
  };
  Together together() { return {}; }
};

// Every sequence, one after another, forward or backward.
template <class T>
void run_sequences(bool forward, const ScanShape& s, const SequenceArgs<T>& all) {
  CpuExec ex;
  for (int i = 0; i < s.sequences; ++i) {
    const SequenceArgs<T> a = sequence_args(s, all, i);
    Sequence<T, CpuExec> sequence(s, a, ex);
    if (forward) sequence.forward();
    else sequence.backward();
  }
}

}  // namespace

template <class T>
void forward_cpu(const ScanShape& s, const SequenceArgs<T>& all) {
  run_sequences(true, s, all);
}

template <class T>
void backward_cpu(const ScanShape& s, const SequenceArgs<T>& all) {
  run_sequences(false, s, all);
}

template void forward_cpu<float>(const ScanShape&, const SequenceArgs<float>&);
template void forward_cpu<double>(const ScanShape&, const SequenceArgs<double>&);
template void backward_cpu<float>(const ScanShape&, const SequenceArgs<float>&);
template void backward_cpu<double>(const ScanShape&, const SequenceArgs<double>&);

}  // namespace ttt::scan
