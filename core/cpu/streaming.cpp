// A streaming step's kernels: one query against a KV cache (compute::attention_decode: softmax(scale
// q k^T) v over the slots written so far, in double) and the TTT step's inner part.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/backend.h"
#include "core/cpu/dispatch.h"
#include "core/scalar_math.h"

namespace ttt::cpu {

void attention_decode(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& position, double scale,
                      const Tensor& out) {
  dispatch_float(q.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t n = q.size(0), slots = k.size(1), d = q.size(2);
    const int64_t count = std::min(index_at(position.raw_data(), position.dtype(), 0) + 1, slots);
    std::vector<double> w(static_cast<size_t>(count));
    for (int64_t r = 0; r < n; ++r) {
      const T* qr = q.data<T>() + r * d;
      const T* kr = k.data<T>() + r * slots * d;
      const T* vr = v.data<T>() + r * slots * d;
      double top = -INFINITY, total = 0;
      for (int64_t j = 0; j < count; ++j) {
        double s = 0;
        for (int64_t e = 0; e < d; ++e) s += static_cast<double>(qr[e]) * static_cast<double>(kr[j * d + e]);
        top = std::max(top, w[static_cast<size_t>(j)] = s * scale);
      }
      for (double& x : w) total += x = std::exp(x - top);
      for (int64_t e = 0; e < d; ++e) {
        double acc = 0;
        for (int64_t j = 0; j < count; ++j) acc += w[static_cast<size_t>(j)] * static_cast<double>(vr[j * d + e]);
        out.data<T>()[r * d + e] = static_cast<T>(acc / total);
      }
    }
  });
}

namespace {

// LN over a row of d (biased variance, as nn LayerNorm): xhat and sigma = sqrt(var + eps).
template <class T>
double normalise(const std::vector<T>& z, double eps, std::vector<T>& xhat) {
  const size_t d = z.size();
  double mu = 0, var = 0;
  for (T v : z) mu += v;
  mu /= static_cast<double>(d);
  for (T v : z) var += (v - mu) * (v - mu);
  const double sigma = std::sqrt(var / static_cast<double>(d) + eps);
  xhat.resize(d);
  for (size_t j = 0; j < d; ++j) xhat[j] = static_cast<T>((z[j] - mu) / sigma);
  return sigma;
}

}  // namespace

// The readable reference of the fused streaming TTT step: per row (sequence and head) the
// equations of docs/inference.md, in the order the CUDA kernel runs them.
void ttt_stream_step(const TttStepArgs& a) {
  dispatch_float(a.xq.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const size_t L = a.w0.size();
    const int64_t n = a.xq.size(0), d = a.xq.size(1), b = a.positional.numel(), H = a.ln_weight.size(0);
    const int64_t i = index_at(a.position.raw_data(), a.position.dtype(), 0) % b;
    const T w_pos = a.positional.data<T>()[i];
    std::vector<int64_t> dim(L + 1);
    for (size_t l = 0; l < L; ++l) dim[l] = a.w0[l].size(-2);
    dim[L] = a.w0[L - 1].size(-1);
    auto row = [](const Tensor& t, int64_t r, int64_t len) { return t.data<T>() + r * len; };
    for (int64_t r = 0; r < n; ++r) {
      const T* gamma = row(a.ln_weight, r % H, d);
      const T* beta = row(a.ln_bias, r % H, d);
      // the key path at W0 (E12 for the key): x_0 = k, z_l = x_l W0_l + b0_l, x_l+1 = gelu(z_l)
      std::vector<std::vector<T>> x(L), z(L), g(L);
      x[0].assign(row(a.xk, r, d), row(a.xk, r, d) + d);
      for (size_t l = 0; l < L; ++l) {
        const T* w = row(a.w0[l], r, dim[l] * dim[l + 1]);
        z[l].assign(row(a.b0[l], r, dim[l + 1]), row(a.b0[l], r, dim[l + 1]) + dim[l + 1]);
        for (int64_t p = 0; p < dim[l]; ++p)
          for (int64_t q = 0; q < dim[l + 1]; ++q) z[l][q] += x[l][p] * w[p * dim[l + 1] + q];
        if (l + 1 < L) {
          x[l + 1].resize(dim[l + 1]);
          for (int64_t q = 0; q < dim[l + 1]; ++q) x[l + 1][q] = math::gelu(z[l][q]);
        }
      }
      // E10: the gradient of 0.5 |LN(z) gamma + beta - target|^2 at the last layer,
      // (D gy - sum gy - xhat sum(gy xhat)) / (D sigma) with gy = (gamma xhat + beta - target) gamma
      std::vector<T> xhat;
      const double sigma = normalise(z[L - 1], a.eps, xhat);
      const T* target = row(a.target, r, d);
      std::vector<double> gy(d);
      double sum_gy = 0, sum_gy_xhat = 0;
      for (int64_t j = 0; j < d; ++j) {
        gy[j] = (gamma[j] * xhat[j] + beta[j] - target[j]) * gamma[j];
        sum_gy += gy[j];
        sum_gy_xhat += gy[j] * xhat[j];
      }
      g[L - 1].resize(d);
      for (int64_t j = 0; j < d; ++j) g[L - 1][j] = static_cast<T>((d * gy[j] - sum_gy - xhat[j] * sum_gy_xhat) / (d * sigma));
      // E11: g_l = (g_l+1 W0_l+1^T) o gelu'(z_l)
      for (size_t l = L - 1; l-- > 0;) {
        const T* w = row(a.w0[l + 1], r, dim[l + 1] * dim[l + 2]);
        g[l].assign(dim[l + 1], T(0));
        for (int64_t p = 0; p < dim[l + 1]; ++p) {
          for (int64_t q = 0; q < dim[l + 2]; ++q) g[l][p] += g[l + 1][q] * w[p * dim[l + 2] + q];
          g[l][p] *= math::gelu_grad(z[l][p]);
        }
      }
      // the token's row i of the mini-batch: X_l[i] = x_l, DS_l[i] = eta g_l
      const T eta = a.eta.data<T>()[r];
      for (size_t l = 0; l < L; ++l) {
        std::copy(x[l].begin(), x[l].end(), row(a.xs[l], r * b + i, dim[l]));
        for (int64_t q = 0; q < dim[l + 1]; ++q) row(a.ds[l], r * b + i, dim[l + 1])[q] = eta * g[l][q];
      }
      // the query (E12-E14, dual form): zq_l = h W0_l + b0_l - w_pos sum_{j <= i} (h . X_l[j] + 1) DS_l[j]
      std::vector<T> h(row(a.xq, r, d), row(a.xq, r, d) + d);
      for (size_t l = 0; l < L; ++l) {
        const T* w = row(a.w0[l], r, dim[l] * dim[l + 1]);
        std::vector<T> zq(row(a.b0[l], r, dim[l + 1]), row(a.b0[l], r, dim[l + 1]) + dim[l + 1]);
        for (int64_t p = 0; p < dim[l]; ++p)
          for (int64_t q = 0; q < dim[l + 1]; ++q) zq[q] += h[p] * w[p * dim[l + 1] + q];
        for (int64_t j = 0; j <= i; ++j) {
          const T* xj = row(a.xs[l], r * b + j, dim[l]);
          const T* dj = row(a.ds[l], r * b + j, dim[l + 1]);
          T coefficient = 1;
          for (int64_t p = 0; p < dim[l]; ++p) coefficient += h[p] * xj[p];
          for (int64_t q = 0; q < dim[l + 1]; ++q) zq[q] -= w_pos * coefficient * dj[q];
        }
        h.resize(dim[l + 1]);
        for (int64_t q = 0; q < dim[l + 1]; ++q) h[q] = l + 1 < L ? math::gelu(zq[q]) : zq[q];
      }
      normalise(h, a.eps, xhat);  // out = q + LN(h) gamma + beta (E14)
      for (int64_t j = 0; j < d; ++j) row(a.out, r, d)[j] = row(a.xq, r, d)[j] + xhat[j] * gamma[j] + beta[j];
      // E15 at the mini-batch's last token: W0_l -= w_pos X_l^T DS_l, b0_l -= w_pos sum_j DS_l[j]
      if (i != b - 1) continue;
      for (size_t l = 0; l < L; ++l) {
        T* w = row(a.w0[l], r, dim[l] * dim[l + 1]);
        T* bias = row(a.b0[l], r, dim[l + 1]);
        for (int64_t j = 0; j < b; ++j) {
          const T* xj = row(a.xs[l], r * b + j, dim[l]);
          const T* dj = row(a.ds[l], r * b + j, dim[l + 1]);
          for (int64_t q = 0; q < dim[l + 1]; ++q) {
            bias[q] -= w_pos * dj[q];
            for (int64_t p = 0; p < dim[l]; ++p) w[p * dim[l + 1] + q] -= w_pos * xj[p] * dj[q];
          }
        }
      }
    }
  });
}

}  // namespace ttt::cpu
