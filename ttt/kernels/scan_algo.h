// The fused TTT scan (use_kernel: true), written once for two executors: scan_cpu.cpp runs it with
// plain loops (the readable reference, gradchecked in f64), scan_cuda.cu runs it with one thread
// block, or a cluster of two, per sequence (batch x head), the inner weights and per-mini-batch
// intermediates in a per-sequence workspace that stays in L2, block-wide tiled matrix products
// and a warp per row for the row loops (each_row).
//
// Forward (docs/spec/TTT_SPEC.md sections 3-4, per mini-batch, layers l = 0..L-1, X_0 = K):
//   Z_l = X_l W_l + b_l,  X_{l+1} = gelu(Z_l)                                       (E12)
//   G_{L-1} = ln_l2_grad(Z_{L-1}, target),  G_l = (G_{l+1} W_{l+1}^T) o gelu'(Z_l)  (E10, E11)
//   Xbar_0 = Q,  M_l = eta o (Xbar_l X_l^T + 1),  Zbar_l = Xbar_l W_l - M_l G_l + b_l (E13;
//            eta o (S + 1) folds E13's two eta terms into one product)
//   out = Q + LN(Zbar_{L-1}) gamma + beta                                           (E14)
//   W_l -= X_l^T diag(eta_last) G_l,  b_l -= eta_last G_l                          (E15)
// Backward runs the mini-batches in reverse. It needs the state at each mini-batch's start and the
// mini-batch's forward intermediates. With scan_checkpoint_group 0 the forward kept both for every
// mini-batch. Otherwise it kept the state every `group` mini-batches (scan checkpointing,
// docs/spec/TTT_SPEC.md section 6), and backward replays each group forward from its saved state, keeping
// the states and intermediates inside the group. Intermediates are written where backward reads
// them (the kept slot, a group slot or the workspace: acts_), never copied. Per mini-batch it then
// differentiates in reverse order:
// the output LN, the state update (it reads the carried dW before anything else is added), the
// output path, the inner-gradient chain (second derivatives of gelu and of E10), the key path.
#pragma once
#include <math.h>

#include <cstdint>

#include "core/scalar_math.h"

// The scan's functions run on the host (the CPU executor) and the device; unlike core/scalar_math.h's
// TTT_HD they are not forced inline (the scan's steps are large).
#ifdef __CUDACC__
#define TTT_SCAN_HD __host__ __device__
#else
#define TTT_SCAN_HD
#endif

namespace ttt::scan {

constexpr int kMaxLayers = 8;

// gelu and its first two derivatives (E12; its backward needs the second): core/scalar_math.h,
// the same expressions the gelu op uses, on both executors.
using math::gelu;
template <class T>
TTT_SCAN_HD inline T gelu_d1(T x) {
  return math::gelu_grad(x);
}
template <class T>
TTT_SCAN_HD inline T gelu_d2(T x) {
  return math::gelu_grad2(x);
}

// Sizes of one scan, and where everything sits in the per-sequence buffers.
struct ScanShape {
  int layers = 0;
  int dims[kMaxLayers + 1] = {};  // d_0 = d, ..., d_L = d
  int b = 0;                      // mini-batch size
  int n = 0;                      // mini-batches
  int heads = 0;
  int sequences = 0;        // batch x heads
  int group = 1;            // a saved state every `group` mini-batches
  bool shared_init = true;  // initial state [heads, P] (true) or [sequences, P]
  double eps = 1e-6;

  TTT_SCAN_HD int d() const { return dims[0]; }
  TTT_SCAN_HD int max_dim() const {
    int m = b;
    for (int l = 0; l <= layers; ++l) m = dims[l] > m ? dims[l] : m;
    return m;
  }
  // Packed state: W_0 [d_0, d_1], b_0 [d_1], W_1, b_1, ...
  TTT_SCAN_HD int64_t w_at(int l) const {
    int64_t o = 0;
    for (int i = 0; i < l; ++i) o += int64_t(dims[i]) * dims[i + 1] + dims[i + 1];
    return o;
  }
  TTT_SCAN_HD int64_t b_at(int l) const { return w_at(l) + int64_t(dims[l]) * dims[l + 1]; }
  TTT_SCAN_HD int64_t state_size() const { return w_at(layers); }
  TTT_SCAN_HD int saved_states() const { return (n + group - 1) / group; }

  // Workspace of one sequence, in elements: forward and backward intermediates. The forward
  // intermediates of one mini-batch that backward reads (x, z, g, h, xbar, zbar, the attention
  // scores s and the two LN statistics) come first, in [0, acts): the same offsets place them in a
  // kept or group slot.
  struct Layout {
    int64_t x[kMaxLayers], z[kMaxLayers], g[kMaxLayers], h[kMaxLayers], xbar[kMaxLayers], zbar[kMaxLayers];
    int64_t s[kMaxLayers];
    int64_t mu_z, rstd_z, mu_zb, rstd_zb, acts;
    int64_t dg[kMaxLayers], dz[kMaxLayers], dx[kMaxLayers];
    int64_t m, dm, dzbar, dxbar, ge, dge, rows_a, rows_b, dgamma, dbeta, del, dw;
    int64_t total;
  };
  TTT_SCAN_HD Layout layout() const {
    Layout L{};
    int64_t o = 0;
    auto take = [&o](int64_t size) {
      const int64_t at = o;
      o += size;
      return at;
    };
    const int64_t B = b, D = max_dim();
    for (int l = 0; l < layers; ++l) {
      const int64_t din = dims[l], dout = dims[l + 1];
      L.x[l] = l > 0 ? take(B * din) : 0;  // X_0 is K: no slot
      L.z[l] = take(B * dout);
      L.g[l] = take(B * dout);
      L.h[l] = l + 1 < layers ? take(B * dout) : 0;  // H_l = G_{l+1} W_{l+1}^T exists below the top
      L.xbar[l] = l > 0 ? take(B * din) : 0;         // Xbar_0 is Q: no slot
      L.zbar[l] = take(B * dout);
      L.s[l] = take(B * B);
    }
    L.mu_z = take(B), L.rstd_z = take(B), L.mu_zb = take(B), L.rstd_zb = take(B);
    L.acts = o;
    for (int l = 0; l < layers; ++l) {
      L.dg[l] = take(B * dims[l + 1]);
      L.dz[l] = take(B * dims[l + 1]);
      L.dx[l] = take(B * dims[l]);
    }
    L.m = take(B * B), L.dm = take(B * B);
    L.dzbar = take(B * D), L.dxbar = take(B * D), L.ge = take(B * D), L.dge = take(B * D);
    L.rows_a = take(B * dims[0]), L.rows_b = take(B * dims[0]);
    L.dgamma = take(dims[0]), L.dbeta = take(dims[0]), L.del = take(B);
    L.dw = take(state_size());
    L.total = o;
    return L;
  }
};

// One sequence's inputs, outputs and buffers. Sequence-major: q/k/target/out [n, b, d], eta [n, b, b].
template <class T>
struct SequenceArgs {
  const T *q, *k, *target, *eta, *gamma, *beta;  // gamma/beta: this head's [d]
  const T* init_state;                           // [P]
  T* out;                                        // forward: [n, b, d]
  T* final_state;                                // forward: [P] (also the running state)
  T* saved;                                      // [saved_states, P] or null (no backward)
  T* work;                                       // [layout().total]
  T* activations;                                // [n, layout().acts] or null: forward keeps every mini-batch's intermediates and
                                                 // backward reads them instead of recomputing (scan_checkpoint_group 0)
  // backward
  const T *dout, *dfinal;                                // dfinal may be null (no gradient into the final state)
  T *dq, *dk, *dtarget, *deta, *dinit, *dgamma, *dbeta;  // dinit [P], dgamma/dbeta [d] per sequence
  T* group_states;                                       // [group - 1, P]: states recomputed inside a group
  T* group_acts;  // [group - 1, layout().acts]: a group's intermediates (but the last one's, which
                  // stays in the workspace), recomputed by backward when forward did not keep them
};

// What one element of an elementwise step reads, for Ex::each(n, read, write): read(i) returns it,
// write(i, values) computes and stores. Split in two so that the GPU can issue the reads of several
// elements before the first store (which, as far as the compiler knows, may alias a later read:
// with one function per element every element would wait out its own memory round trip).
template <class T, int N>
struct Vals {
  T v[N];
  TTT_SCAN_HD T operator[](int k) const { return v[k]; }
};

// The scan for one sequence, written against an executor Ex (scan_cpu.cpp, scan_cuda.cu):
//   gemm(M, N, K, alpha, A, lda, ta, B, ldb, tb, beta, C, ldc)
//                          C = alpha op(A) op(B) + beta C, row-major (beta 0 never reads C)
//   each(n, f)             f(i) for every i < n
//   each(n, read, write)   the same in two phases, write(i, read(i)) (see Vals)
//   each_row(n, f)         f(r, row) for every row r < n: the row's row.lanes workers (1 on the
//                          CPU, a warp's 32 lanes on the GPU) each call f with their own row.lane,
//                          stride over the row's columns from it, and combine partial results
//                          with row.sum(v) (every lane gets the total)
//   copy(dst, src, n)
// Every step ends with a barrier, except inside `auto group = ex_.together();`: there the steps
// skip it and the group ends with one barrier when it goes out of scope. A group holds only
// independent steps: none reads or writes what another step of the group writes
// (FusedScanCpu.GroupedStepsAreIndependent checks it by running each group in reverse).
template <class T, class Ex>
class Sequence {
 public:
  TTT_SCAN_HD Sequence(const ScanShape& s, const SequenceArgs<T>& a, Ex& ex) : s_(s), a_(a), ex_(ex), L_(s.layout()) {}

  TTT_SCAN_HD void forward() {
    const int64_t P = s_.state_size();
    ex_.copy(a_.final_state, a_.init_state, P);
    for (int m = 0; m < s_.n; ++m) {
      if (a_.saved && m % s_.group == 0) ex_.copy(a_.saved + int64_t(m / s_.group) * P, a_.final_state, P);
      acts_ = a_.activations ? a_.activations + int64_t(m) * L_.acts : a_.work;  // kept: written in place
      key_path_and_inner_grads(m, a_.final_state);
      output_path(m, a_.final_state, a_.out + int64_t(m) * s_.b * s_.d());
      update_state(m, a_.final_state);
    }
  }

  TTT_SCAN_HD void backward() {
    const int64_t P = s_.state_size();
    T* dw = w(L_.dw);
    if (a_.dfinal)
      ex_.copy(dw, a_.dfinal, P);
    else
      ex_.each(P, [=](int i) { dw[i] = T(0); });
    const int d = s_.d();
    T *dgam = w(L_.dgamma), *dbet = w(L_.dbeta);
    ex_.each(d, [=](int i) {
      dgam[i] = T(0);
      dbet[i] = T(0);
    });
    const int64_t A = L_.acts;
    for (int g = s_.saved_states() - 1; g >= 0; --g) {
      const int first = g * s_.group;
      const int count = s_.n - first < s_.group ? s_.n - first : s_.group;
      // Unless forward kept them: recompute the group from its saved state, keeping the states
      // inside the group (slot j: before first + j) and each mini-batch's intermediates (in
      // group_acts, but the last mini-batch's in the workspace).
      if (!a_.activations)
        for (int j = 0; j < count; ++j) {
          const T* st = state_of(g, j);
          acts_ = group_acts_of(j, count);
          key_path_and_inner_grads(first + j, st);
          output_path(first + j, st, nullptr);
          if (j + 1 < count) {
            T* next = a_.group_states + int64_t(j) * P;
            ex_.copy(next, st, P);
            update_state(first + j, next);
          }
        }
      for (int j = count - 1; j >= 0; --j) {
        const int m = first + j;
        acts_ = a_.activations ? a_.activations + m * A : group_acts_of(j, count);
        backward_minibatch(m, state_of(g, j));
      }
    }
    ex_.copy(a_.dinit, dw, P);
    ex_.copy(a_.dgamma, dgam, d);
    ex_.copy(a_.dbeta, dbet, d);
  }

 private:
  const ScanShape& s_;
  const SequenceArgs<T>& a_;
  Ex& ex_;
  ScanShape::Layout L_;
  T* acts_ = nullptr;  // where the current mini-batch's intermediates (Layout [0, acts)) live

  TTT_SCAN_HD T* w(int64_t at) const { return a_.work + at; }
  TTT_SCAN_HD T* act(int64_t at) const { return acts_ + at; }
  // Mini-batch j's intermediates inside a replayed group of `count`: group_acts, or for the last
  // one (the first whose backward runs) the workspace.
  TTT_SCAN_HD T* group_acts_of(int j, int count) const { return j + 1 < count ? a_.group_acts + j * L_.acts : a_.work; }
  TTT_SCAN_HD int din(int l) const { return s_.dims[l]; }
  TTT_SCAN_HD int dout(int l) const { return s_.dims[l + 1]; }
  TTT_SCAN_HD const T* xin(int l, int m) const { return l == 0 ? a_.k + int64_t(m) * s_.b * s_.d() : act(L_.x[l]); }
  TTT_SCAN_HD const T* xbar_in(int l, int m) const { return l == 0 ? a_.q + int64_t(m) * s_.b * s_.d() : act(L_.xbar[l]); }
  TTT_SCAN_HD const T* eta_of(int m) const { return a_.eta + int64_t(m) * s_.b * s_.b; }
  TTT_SCAN_HD T* state_of(int g, int j) const {
    return j == 0 ? a_.saved + int64_t(g) * s_.state_size() : a_.group_states + int64_t(j - 1) * s_.state_size();
  }

  // z [rows, cols] += bias (broadcast over rows); next = gelu(z) when next is given.
  TTT_SCAN_HD void add_bias_then_gelu(T* z, const T* bias, T* next, int rows, int cols) {
    ex_.each(
        rows * cols,
        [=](int i) {
          return Vals<T, 2>{{z[i], bias[i % cols]}};
        },
        [=](int i, Vals<T, 2> in) {
          const T v = in[0] + in[1];
          z[i] = v;
          if (next) next[i] = gelu(v);
        });
  }

  // Mean and 1 / sqrt(var + eps) of one row of d values (E8's LayerNorm statistics).
  template <class Row>
  TTT_SCAN_HD static void row_stats(const T* zr, int d, T eps, const Row& row, T& mean, T& rs) {
    T m = 0, var = 0;
    for (int j = row.lane; j < d; j += row.lanes) m += zr[j];
    m = row.sum(m) / T(d);
    for (int j = row.lane; j < d; j += row.lanes) var += (zr[j] - m) * (zr[j] - m);
    mean = m;
    rs = T(1) / math::m_sqrt(row.sum(var) / T(d) + eps);
  }

  // Z_l, X_{l+1} (E12), then G_l (E10, E11) at the state W.
  TTT_SCAN_HD void key_path_and_inner_grads(int m, const T* W) {
    const int b = s_.b, d = s_.d(), L = s_.layers;
    for (int l = 0; l < L; ++l) {
      const int di = din(l), dn = dout(l);
      T* z = act(L_.z[l]);
      ex_.gemm(b, dn, di, T(1), xin(l, m), di, false, W + s_.w_at(l), dn, false, T(0), z, dn);
      add_bias_then_gelu(z, W + s_.b_at(l), l + 1 < L ? act(L_.x[l + 1]) : nullptr, b, dn);
    }
    // E10 row by row: G = (gy - mean(gy) - xhat mean(gy xhat)) / sigma, gy = (gamma xhat + beta - target) gamma
    const T* zL = act(L_.z[L - 1]);
    const T* tgt = a_.target + int64_t(m) * b * d;
    T *gL = act(L_.g[L - 1]), *mu = act(L_.mu_z), *rstd = act(L_.rstd_z);
    const T *gamma = a_.gamma, *beta = a_.beta;
    const T eps = T(s_.eps);
    ex_.each_row(b, [=](int r, const auto& row) {
      const T* zr = zL + r * d;
      T mean, rs;
      row_stats(zr, d, eps, row, mean, rs);
      T s1 = 0, s2 = 0;
      for (int j = row.lane; j < d; j += row.lanes) {
        const T xh = (zr[j] - mean) * rs, gy = (gamma[j] * xh + beta[j] - tgt[r * d + j]) * gamma[j];
        s1 += gy;
        s2 += gy * xh;
      }
      s1 = row.sum(s1) / T(d), s2 = row.sum(s2) / T(d);
      for (int j = row.lane; j < d; j += row.lanes) {
        const T xh = (zr[j] - mean) * rs, gy = (gamma[j] * xh + beta[j] - tgt[r * d + j]) * gamma[j];
        gL[r * d + j] = (gy - s1 - xh * s2) * rs;
      }
      if (row.lane == 0) mu[r] = mean, rstd[r] = rs;
    });
    for (int l = L - 2; l >= 0; --l) {
      const int dn = dout(l), dnn = dout(l + 1);
      T *h = act(L_.h[l]), *g = act(L_.g[l]);
      const T* z = act(L_.z[l]);
      ex_.gemm(b, dn, dnn, T(1), act(L_.g[l + 1]), dnn, false, W + s_.w_at(l + 1), dnn, true, T(0), h, dn);
      ex_.each(
          b * dn,
          [=](int i) {
            return Vals<T, 2>{{h[i], z[i]}};
          },
          [=](int i, Vals<T, 2> in) { g[i] = in[0] * gelu_d1(in[1]); });
    }
  }

  // S_l = Xbar_l X_l^T for layer l of mini-batch m (kept with the intermediates), then (weights)
  // M_l = eta o (S_l + 1).
  TTT_SCAN_HD void scores(int l, int m) {
    const int b = s_.b, di = din(l);
    ex_.gemm(b, b, di, T(1), xbar_in(l, m), di, false, xin(l, m), di, true, T(0), act(L_.s[l]), b);
  }
  TTT_SCAN_HD void weights(int l, int m) {
    const T* S = act(L_.s[l]);
    T* M = w(L_.m);
    const T* eta = eta_of(m);
    ex_.each(
        s_.b * s_.b,
        [=](int i) {
          return Vals<T, 2>{{eta[i], S[i]}};
        },
        [=](int i, Vals<T, 2> in) { M[i] = in[0] * (in[1] + T(1)); });
  }

  // Zbar_l (E13) for every layer; then out = Q + LN(Zbar_{L-1}) gamma + beta (E14) when out is
  // given, else only the LN statistics (backward).
  TTT_SCAN_HD void output_path(int m, const T* W, T* out) {
    const int b = s_.b, d = s_.d(), L = s_.layers;
    for (int l = 0; l < L; ++l) {
      const int di = din(l), dn = dout(l);
      T* zb = act(L_.zbar[l]);
      {
        auto group = ex_.together();
        scores(l, m);
        ex_.gemm(b, dn, di, T(1), xbar_in(l, m), di, false, W + s_.w_at(l), dn, false, T(0), zb, dn);
      }
      weights(l, m);
      ex_.gemm(b, dn, b, T(-1), w(L_.m), b, false, act(L_.g[l]), dn, false, T(1), zb, dn);
      add_bias_then_gelu(zb, W + s_.b_at(l), l + 1 < L ? act(L_.xbar[l + 1]) : nullptr, b, dn);
    }
    const T* zb = act(L_.zbar[L - 1]);
    const T *q = a_.q + int64_t(m) * b * d, *gamma = a_.gamma, *beta = a_.beta;
    T *mu = act(L_.mu_zb), *rstd = act(L_.rstd_zb);
    const T eps = T(s_.eps);
    ex_.each_row(b, [=](int r, const auto& row) {
      const T* zr = zb + r * d;
      T mean, rs;
      row_stats(zr, d, eps, row, mean, rs);
      if (row.lane == 0) mu[r] = mean, rstd[r] = rs;
      if (out)
        for (int j = row.lane; j < d; j += row.lanes) out[r * d + j] = q[r * d + j] + (zr[j] - mean) * rs * gamma[j] + beta[j];
    });
  }

  // E15: W_l -= X_l^T (eta_last o G_l), b_l -= eta_last G_l, in place.
  TTT_SCAN_HD void update_state(int m, T* W) {
    const int b = s_.b;
    const T* eta_last = eta_of(m) + int64_t(b - 1) * b;
    T* ge = w(L_.ge);
    for (int l = 0; l < s_.layers; ++l) {
      const int di = din(l), dn = dout(l);
      const T* g = act(L_.g[l]);
      ex_.each(
          b * dn,
          [=](int i) {
            return Vals<T, 2>{{eta_last[i / dn], g[i]}};
          },
          [=](int i, Vals<T, 2> in) { ge[i] = in[0] * in[1]; });
      auto group = ex_.together();
      ex_.gemm(di, dn, b, T(-1), xin(l, m), di, true, ge, dn, false, T(1), W + s_.w_at(l), dn);
      T* bias = W + s_.b_at(l);
      ex_.each(dn, [=](int j) {
        T acc = 0;
        for (int r = 0; r < b; ++r) acc += ge[r * dn + j];
        bias[j] -= acc;
      });
    }
  }

  // Adds the column sums of x [rows, cols] to acc [cols].
  TTT_SCAN_HD void add_column_sums(T* acc, const T* x, int rows, int cols) {
    ex_.each(cols, [=](int j) {
      T sum = 0;
      for (int r = 0; r < rows; ++r) sum += x[r * cols + j];
      acc[j] += sum;
    });
  }

  // Mini-batch m's gradients, from the state W before it and its forward intermediates at acts_
  // (only read here).
  TTT_SCAN_HD void backward_minibatch(int m, const T* W) {
    const int b = s_.b, d = s_.d(), L = s_.layers;
    const int64_t tok = int64_t(m) * b * d;
    T* dW = w(L_.dw);  // on entry: the gradient of the state after this mini-batch
    const T* eta = eta_of(m);
    const T* eta_last = eta + int64_t(b - 1) * b;
    T* deta = a_.deta + int64_t(m) * b * b;
    const T *gamma = a_.gamma, *beta = a_.beta;

    // (a) out = Q + LN(Zbar) gamma + beta
    {
      const T *dout = a_.dout + tok, *zb = act(L_.zbar[L - 1]), *mu = act(L_.mu_zb), *rstd = act(L_.rstd_zb);
      T *dq = a_.dq + tok, *dzbar = w(L_.dzbar), *ra = w(L_.rows_a);
      ex_.each_row(b, [=](int r, const auto& row) {
        T s1 = 0, s2 = 0;
        for (int j = row.lane; j < d; j += row.lanes) {
          const T xh = (zb[r * d + j] - mu[r]) * rstd[r], gx = dout[r * d + j] * gamma[j];
          s1 += gx, s2 += gx * xh;
          ra[r * d + j] = dout[r * d + j] * xh;
          dq[r * d + j] = dout[r * d + j];
        }
        s1 = row.sum(s1) / T(d), s2 = row.sum(s2) / T(d);
        for (int j = row.lane; j < d; j += row.lanes) {
          const T xh = (zb[r * d + j] - mu[r]) * rstd[r];
          dzbar[r * d + j] = rstd[r] * (dout[r * d + j] * gamma[j] - s1 - xh * s2);
        }
      });
      auto group = ex_.together();
      add_column_sums(w(L_.dgamma), ra, b, d);
      add_column_sums(w(L_.dbeta), dout, b, d);
      T* del = w(L_.del);
      ex_.each(int64_t(b) * b, [=](int i) {
        deta[i] = T(0);
        if (i < b) del[i] = T(0);
      });
    }

    // (b) the update W' = W - X^T (eta_last o G), b' = b - eta_last G, with dW holding dW'
    {
      T *ge = w(L_.ge), *dge = w(L_.dge), *del = w(L_.del);
      for (int l = 0; l < L; ++l) {
        const int di = din(l), dn = dout(l);
        const T* g = act(L_.g[l]);
        const T* dbias = dW + s_.b_at(l);
        T *dg = w(L_.dg[l]), *dx = w(L_.dx[l]);
        ex_.gemm(b, dn, di, T(-1), xin(l, m), di, false, dW + s_.w_at(l), dn, false, T(0), dge, dn);
        ex_.each(
            b * dn,
            [=](int i) {
              return Vals<T, 4>{{dge[i], dbias[i % dn], eta_last[i / dn], g[i]}};
            },
            [=](int i, Vals<T, 4> in) {
              const T dgei = in[0] - in[1];
              dge[i] = dgei;
              ge[i] = in[2] * in[3];
              dg[i] = in[2] * dgei;
            });
        auto group = ex_.together();
        ex_.gemm(b, di, dn, T(-1), ge, dn, false, dW + s_.w_at(l), dn, true, T(0), dx, di);
        ex_.each_row(b, [=](int r, const auto& row) {
          T acc = 0;
          for (int k = row.lane; k < dn; k += row.lanes) acc += dge[r * dn + k] * g[r * dn + k];
          acc = row.sum(acc);
          if (row.lane == 0) del[r] += acc;
        });
      }
      // deta's last row gets del after the output path below has written deta.
    }

    // (c) the output path, top layer down: Zbar_l = Xbar_l W_l - M_l G_l + b_l
    {
      T *dzbar = w(L_.dzbar), *dxbar = w(L_.dxbar), *M = w(L_.m), *dM = w(L_.dm);
      for (int l = L - 1; l >= 0; --l) {
        const int di = din(l), dn = dout(l);
        const T* xb = xbar_in(l, m);
        const T* S = act(L_.s[l]);  // forward's scores
        {                           // everything that needs only dZbar
          auto group = ex_.together();
          ex_.gemm(di, dn, b, T(1), xb, di, true, dzbar, dn, false, T(1), dW + s_.w_at(l), dn);
          add_column_sums(dW + s_.b_at(l), dzbar, b, dn);
          ex_.gemm(b, b, dn, T(-1), dzbar, dn, false, act(L_.g[l]), dn, true, T(0), dM, b);
          ex_.gemm(b, di, dn, T(1), dzbar, dn, false, W + s_.w_at(l), dn, true, T(0), dxbar, di);
        }
        {  // M from S; deta and dS from dM and S
          auto group = ex_.together();
          weights(l, m);
          ex_.each(
              b * b,
              [=](int i) {
                return Vals<T, 4>{{deta[i], dM[i], S[i], eta[i]}};
              },
              [=](int i, Vals<T, 4> in) {
                deta[i] = in[0] + in[1] * (in[2] + T(1));
                dM[i] = in[1] * in[3];  // now dS
              });
        }
        {  // what needs M or dS
          auto group = ex_.together();
          ex_.gemm(b, dn, b, T(-1), M, b, true, dzbar, dn, false, T(1), w(L_.dg[l]), dn);
          ex_.gemm(b, di, b, T(1), dM, b, false, xin(l, m), di, false, T(1), dxbar, di);
          ex_.gemm(b, di, b, T(1), dM, b, true, xb, di, false, T(1), w(L_.dx[l]), di);
        }
        if (l > 0) {
          const T* zprev = act(L_.zbar[l - 1]);
          ex_.each(
              b * di,
              [=](int i) {
                return Vals<T, 2>{{dxbar[i], zprev[i]}};
              },
              [=](int i, Vals<T, 2> in) { dzbar[i] = in[0] * gelu_d1(in[1]); });
        } else {
          T* dq = a_.dq + tok;
          ex_.each(
              b * d,
              [=](int i) {
                return Vals<T, 2>{{dq[i], dxbar[i]}};
              },
              [=](int i, Vals<T, 2> in) { dq[i] = in[0] + in[1]; });
        }
      }
      const T* del = w(L_.del);
      T* deta_last = deta + int64_t(b - 1) * b;
      ex_.each(b, [=](int i) { deta_last[i] += del[i]; });
    }

    // (d) the inner-gradient chain G_l = H_l o gelu'(Z_l), H_l = G_{l+1} W_{l+1}^T, bottom up
    for (int l = 0; l + 1 < L; ++l) {
      const int dn = dout(l), dnn = dout(l + 1);
      T *p = w(L_.ge), *dz = w(L_.dz[l]);
      const T *dg = w(L_.dg[l]), *z = act(L_.z[l]), *h = act(L_.h[l]);
      ex_.each(
          b * dn,
          [=](int i) {
            return Vals<T, 3>{{dg[i], z[i], h[i]}};
          },
          [=](int i, Vals<T, 3> in) {
            p[i] = in[0] * gelu_d1(in[1]);
            dz[i] = in[0] * in[2] * gelu_d2(in[1]);
          });
      auto group = ex_.together();
      ex_.gemm(b, dnn, dn, T(1), p, dn, false, W + s_.w_at(l + 1), dnn, false, T(1), w(L_.dg[l + 1]), dnn);
      ex_.gemm(dn, dnn, b, T(1), p, dn, true, act(L_.g[l + 1]), dnn, false, T(1), dW + s_.w_at(l + 1), dnn);
    }

    // (e) E10's backward: dZ_{L-1}, dtarget, and gamma/beta's share
    {
      const T *zL = act(L_.z[L - 1]), *tgt = a_.target + tok, *dgL = w(L_.dg[L - 1]);
      const T *mu = act(L_.mu_z), *rstd = act(L_.rstd_z), *gL = act(L_.g[L - 1]);
      T *dz = w(L_.dz[L - 1]), *dt = a_.dtarget + tok, *ra = w(L_.rows_a), *rb = w(L_.rows_b);
      ex_.each_row(b, [=](int r, const auto& row) {
        const int64_t o = r * d;
        // c = mean(xhat gy), mean(u), mean(u xhat) with u = dG / sigma
        T c = 0, mu_u = 0, mu_ux = 0, u_dot_g = 0;
        for (int j = row.lane; j < d; j += row.lanes) {
          const T xh = (zL[o + j] - mu[r]) * rstd[r], gy = (gamma[j] * xh + beta[j] - tgt[o + j]) * gamma[j];
          const T u = dgL[o + j] * rstd[r];
          c += xh * gy, mu_u += u, mu_ux += u * xh, u_dot_g += u * gL[o + j];
        }
        c = row.sum(c) / T(d), mu_u = row.sum(mu_u) / T(d), mu_ux = row.sum(mu_ux) / T(d);
        u_dot_g = row.sum(u_dot_g);
        // dxhat = -c u - mean(u xhat) gy + gamma^2 dgy, dgy = u - mean(u) - xhat mean(u xhat)
        T mu_dx = 0, mu_dxx = 0;
        for (int j = row.lane; j < d; j += row.lanes) {
          const T xh = (zL[o + j] - mu[r]) * rstd[r], resid = gamma[j] * xh + beta[j] - tgt[o + j];
          const T gy = resid * gamma[j], u = dgL[o + j] * rstd[r];
          const T dgy = u - mu_u - xh * mu_ux;
          const T dxh = -c * u - mu_ux * gy + gamma[j] * gamma[j] * dgy;
          ra[o + j] = dgy * (T(2) * gamma[j] * xh + beta[j] - tgt[o + j]);  // dgamma share
          rb[o + j] = dgy * gamma[j];                                       // dbeta share
          dt[o + j] = -gamma[j] * dgy;
          dz[o + j] = dxh;  // finished below
          mu_dx += dxh, mu_dxx += dxh * xh;
        }
        mu_dx = row.sum(mu_dx) / T(d), mu_dxx = row.sum(mu_dxx) / T(d);
        // dz = (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) / sigma + dsigma xhat / D, dsigma = -sum(u G)
        for (int j = row.lane; j < d; j += row.lanes) {
          const T xh = (zL[o + j] - mu[r]) * rstd[r];
          dz[o + j] = rstd[r] * (dz[o + j] - mu_dx - xh * mu_dxx) - u_dot_g * xh / T(d);
        }
      });
      auto group = ex_.together();
      add_column_sums(w(L_.dgamma), ra, b, d);
      add_column_sums(w(L_.dbeta), rb, b, d);
    }

    // (f) the key path, top layer down: Z_l = X_l W_l + b_l, X_{l+1} = gelu(Z_l)
    for (int l = L - 1; l >= 0; --l) {
      const int di = din(l), dn = dout(l);
      const T* dz = w(L_.dz[l]);
      T* dx = w(L_.dx[l]);
      {
        auto group = ex_.together();
        ex_.gemm(di, dn, b, T(1), xin(l, m), di, true, dz, dn, false, T(1), dW + s_.w_at(l), dn);
        add_column_sums(dW + s_.b_at(l), dz, b, dn);
        ex_.gemm(b, di, dn, T(1), dz, dn, false, W + s_.w_at(l), dn, true, T(1), dx, di);
      }
      if (l > 0) {
        T* dzp = w(L_.dz[l - 1]);
        const T* zp = act(L_.z[l - 1]);
        ex_.each(
            b * di,
            [=](int i) {
              return Vals<T, 3>{{dzp[i], dx[i], zp[i]}};
            },
            [=](int i, Vals<T, 3> in) { dzp[i] = in[0] + in[1] * gelu_d1(in[2]); });
      } else {
        T* dk = a_.dk + tok;
        ex_.copy(dk, dx, b * d);
      }
    }
  }
};

}  // namespace ttt::scan

namespace ttt::scan {

// Sequence i's part of whole-tensor arguments (i = batch index * heads + head).
template <class T>
TTT_SCAN_HD inline SequenceArgs<T> sequence_args(const ScanShape& s, const SequenceArgs<T>& all, int i) {
  const int64_t P = s.state_size(), tokens = int64_t(s.n) * s.b * s.d(), etas = int64_t(s.n) * s.b * s.b;
  const int h = i % s.heads, d = s.d();
  auto at = [](auto* p, int64_t off) { return p ? p + off : p; };
  SequenceArgs<T> a = all;
  a.q = at(all.q, i * tokens), a.k = at(all.k, i * tokens), a.target = at(all.target, i * tokens);
  a.eta = at(all.eta, i * etas);
  a.gamma = at(all.gamma, int64_t(h) * d), a.beta = at(all.beta, int64_t(h) * d);
  a.init_state = at(all.init_state, int64_t(s.shared_init ? h : i) * P);
  a.out = at(all.out, i * tokens);
  a.final_state = at(all.final_state, i * P);
  a.saved = at(all.saved, i * int64_t(s.saved_states()) * P);
  a.work = at(all.work, i * s.layout().total);
  a.activations = at(all.activations, i * int64_t(s.n) * s.layout().acts);
  a.dout = at(all.dout, i * tokens), a.dfinal = at(all.dfinal, i * P);
  a.dq = at(all.dq, i * tokens), a.dk = at(all.dk, i * tokens), a.dtarget = at(all.dtarget, i * tokens);
  a.deta = at(all.deta, i * etas);
  a.dinit = at(all.dinit, i * P);
  a.dgamma = at(all.dgamma, int64_t(i) * d), a.dbeta = at(all.dbeta, int64_t(i) * d);
  a.group_states = at(all.group_states, i * int64_t(s.group > 1 ? s.group - 1 : 0) * P);
  a.group_acts = at(all.group_acts, i * int64_t(s.group > 1 ? s.group - 1 : 0) * s.layout().acts);
  return a;
}

}  // namespace ttt::scan
