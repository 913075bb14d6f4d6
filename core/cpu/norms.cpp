// CPU kernels of the norms, forward and backward side by side: layer norm and RMS norm over the
// last dim, and the TTT layer's two row norms (docs/spec/TTT_SPEC.md E1a and E2a). Statistics
// accumulate in double. The CUDA twins are in core/cuda/norms.cu.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/backend.h"
#include "core/cpu/dispatch.h"

namespace ttt::cpu {

void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y, const Tensor& mean,
                const Tensor& rstd) {
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t d = x.size(-1), rows = x.numel() / d;
    const T* px = x.data<T>();
    const T* w = weight.defined() ? weight.data<T>() : nullptr;
    const T* b = bias.defined() ? bias.data<T>() : nullptr;
    T *py = y.data<T>(), *pm = mean.data<T>(), *pr = rstd.data<T>();
    for (int64_t r = 0; r < rows; ++r) {
      const T* a = px + r * d;
      double mu = 0, var = 0;
      for (int64_t j = 0; j < d; ++j) mu += a[j];
      mu /= d;
      for (int64_t j = 0; j < d; ++j) var += (a[j] - mu) * (a[j] - mu);
      var /= d;  // biased variance, as in PyTorch's LayerNorm
      const double rs = 1.0 / std::sqrt(var + eps);
      pm[r] = static_cast<T>(mu);
      pr[r] = static_cast<T>(rs);
      for (int64_t j = 0; j < d; ++j) {
        double h = (a[j] - mu) * rs;
        py[r * d + j] = static_cast<T>(h * (w ? w[j] : 1) + (b ? b[j] : 0));
      }
    }
  });
}

// With xhat = (x - mu) rstd and gh = g w:  dx = rstd (gh - mean(gh) - xhat mean(gh xhat)),
// dw = sum_rows(g xhat), db = sum_rows(g).
void layer_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& rstd,
                         const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias) {
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t d = x.size(-1), rows = x.numel() / d;
    const T *pg = grad.data<T>(), *px = x.data<T>(), *pm = mean.data<T>(), *pr = rstd.data<T>();
    const T* w = weight.defined() ? weight.data<T>() : nullptr;
    T* pdx = grad_x.data<T>();
    T* pdw = grad_weight.defined() ? grad_weight.data<T>() : nullptr;
    T* pdb = grad_bias.defined() ? grad_bias.data<T>() : nullptr;
    for (int64_t r = 0; r < rows; ++r) {
      const T *g = pg + r * d, *a = px + r * d;
      const double mu = pm[r], rs = pr[r];
      double s1 = 0, s2 = 0;
      for (int64_t j = 0; j < d; ++j) {
        double gh = g[j] * (w ? w[j] : 1), xh = (a[j] - mu) * rs;
        s1 += gh;
        s2 += gh * xh;
        if (pdw) pdw[j] += static_cast<T>(g[j] * xh);
        if (pdb) pdb[j] += g[j];
      }
      s1 /= d;
      s2 /= d;
      for (int64_t j = 0; j < d; ++j) {
        double gh = g[j] * (w ? w[j] : 1), xh = (a[j] - mu) * rs;
        pdx[r * d + j] = static_cast<T>(rs * (gh - s1 - xh * s2));
      }
    }
  });
}

void rms_norm(const Tensor& x, const Tensor& weight, double eps, const Tensor& y, const Tensor& rstd) {
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t d = x.size(-1), rows = x.numel() / d;
    const T* px = x.data<T>();
    const T* w = weight.defined() ? weight.data<T>() : nullptr;
    T *py = y.data<T>(), *pr = rstd.data<T>();
    for (int64_t r = 0; r < rows; ++r) {
      const T* a = px + r * d;
      double ms = 0;
      for (int64_t j = 0; j < d; ++j) ms += double(a[j]) * a[j];
      const double rs = 1.0 / std::sqrt(ms / d + eps);
      pr[r] = static_cast<T>(rs);
      for (int64_t j = 0; j < d; ++j) py[r * d + j] = static_cast<T>(a[j] * rs * (w ? w[j] : 1));
    }
  });
}

// xhat = x rstd, gh = g w:  dx = rstd (gh - xhat mean(gh xhat)),  dw = sum_rows(g xhat).
void rms_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, const Tensor& rstd, const Tensor& grad_x,
                       const Tensor& grad_weight) {
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t d = x.size(-1), rows = x.numel() / d;
    const T *pg = grad.data<T>(), *px = x.data<T>(), *pr = rstd.data<T>();
    const T* w = weight.defined() ? weight.data<T>() : nullptr;
    T* pdx = grad_x.data<T>();
    T* pdw = grad_weight.defined() ? grad_weight.data<T>() : nullptr;
    for (int64_t r = 0; r < rows; ++r) {
      const T *g = pg + r * d, *a = px + r * d;
      const double rs = pr[r];
      double s = 0;
      for (int64_t j = 0; j < d; ++j) {
        double xh = a[j] * rs;
        s += g[j] * (w ? w[j] : 1) * xh;
        if (pdw) pdw[j] += static_cast<T>(g[j] * xh);
      }
      s /= d;
      for (int64_t j = 0; j < d; ++j) pdx[r * d + j] = static_cast<T>(rs * (g[j] * (w ? w[j] : 1) - a[j] * rs * s));
    }
  });
}

// E1a: y = x / den with den = max(||x||, eps) per row of the last dim.
void l2_normalize(const Tensor& x, double eps, const Tensor& y, const Tensor& den) {
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t d = x.size(-1), rows = x.numel() / d;
    const T* px = x.data<T>();
    T *py = y.data<T>(), *pden = den.data<T>();
    for (int64_t r = 0; r < rows; ++r) {
      const T* a = px + r * d;
      double ss = 0;
      for (int64_t j = 0; j < d; ++j) ss += double(a[j]) * a[j];
      const double n = std::max(std::sqrt(ss), eps);
      pden[r] = static_cast<T>(n);
      for (int64_t j = 0; j < d; ++j) py[r * d + j] = static_cast<T>(a[j] / n);
    }
  });
}

// Unclamped rows (den > eps): dx = (g - y sum(g y)) / den, the projection of g off y. A clamped row
// is x / eps, a linear map: dx = g / eps.
void l2_normalize_backward(const Tensor& grad, const Tensor& y, const Tensor& den, double eps, const Tensor& grad_x) {
  dispatch_float(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t d = y.size(-1), rows = y.numel() / d;
    const T *pg = grad.data<T>(), *py = y.data<T>(), *pden = den.data<T>();
    T* pdx = grad_x.data<T>();
    for (int64_t r = 0; r < rows; ++r) {
      const T *g = pg + r * d, *a = py + r * d;
      const double n = pden[r];
      if (!(n > eps)) {
        for (int64_t j = 0; j < d; ++j) pdx[r * d + j] = static_cast<T>(g[j] / eps);
        continue;
      }
      double gy = 0;
      for (int64_t j = 0; j < d; ++j) gy += double(g[j]) * a[j];
      for (int64_t j = 0; j < d; ++j) pdx[r * d + j] = static_cast<T>((g[j] - a[j] * gy) / n);
    }
  });
}

// E2a: x [..., H, L, d]; row r belongs to head (r / L) % H. c = x - mean, s = the unbiased std,
// y = c / (s + eps) * weight[h] + bias[h].
void unbiased_head_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y,
                        const Tensor& mean, const Tensor& std_dev) {
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t d = x.size(-1), len = x.size(-2), heads = x.size(-3), rows = x.numel() / d;
    const T *px = x.data<T>(), *pw = weight.data<T>(), *pb = bias.data<T>();
    T *py = y.data<T>(), *pm = mean.data<T>(), *ps = std_dev.data<T>();
    for (int64_t r = 0; r < rows; ++r) {
      const T* a = px + r * d;
      const T *w = pw + (r / len) % heads * d, *b = pb + (r / len) % heads * d;
      double mu = 0;
      for (int64_t j = 0; j < d; ++j) mu += a[j];
      mu /= d;
      double var = 0;
      for (int64_t j = 0; j < d; ++j) var += (a[j] - mu) * (a[j] - mu);
      const double s = std::sqrt(var / (d - 1));
      pm[r] = static_cast<T>(mu);
      ps[r] = static_cast<T>(s);
      for (int64_t j = 0; j < d; ++j) py[r * d + j] = static_cast<T>((a[j] - mu) / (s + eps) * w[j] + b[j]);
    }
  });
}

// With gh = g w[h], sigma = s + eps and ds/dc_k = c_k / ((d - 1) s):
//   dx = (gh - mean(gh)) / sigma - c sum(gh c) / (sigma^2 (d - 1) s)   (second term 0 when s = 0)
// and grad_xhat = g c / sigma, which the caller sums per head into the weight's gradient.
void unbiased_head_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                 const Tensor& std_dev, double eps, const Tensor& grad_x, const Tensor& grad_xhat) {
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t d = x.size(-1), len = x.size(-2), heads = x.size(-3), rows = x.numel() / d;
    const T *pg = grad.data<T>(), *px = x.data<T>(), *pw = weight.data<T>(), *pm = mean.data<T>(), *ps = std_dev.data<T>();
    T *pdx = grad_x.data<T>(), *pgx = grad_xhat.defined() ? grad_xhat.data<T>() : nullptr;
    for (int64_t r = 0; r < rows; ++r) {
      const T *g = pg + r * d, *a = px + r * d, *w = pw + (r / len) % heads * d;
      const double mu = pm[r], s = ps[r], sigma = s + eps;
      double sum_gh = 0, sum_ghc = 0;
      for (int64_t j = 0; j < d; ++j) {
        const double gh = double(g[j]) * w[j];
        sum_gh += gh;
        sum_ghc += gh * (a[j] - mu);
      }
      const double mean_gh = sum_gh / d, k = s > 0 ? sum_ghc / (sigma * sigma * (d - 1) * s) : 0.0;
      for (int64_t j = 0; j < d; ++j) {
        const double c = a[j] - mu;
        pdx[r * d + j] = static_cast<T>((double(g[j]) * w[j] - mean_gh) / sigma - c * k);
        if (pgx) pgx[r * d + j] = static_cast<T>(g[j] * c / sigma);
      }
    }
  });
}

// E10 per row (head h): xhat = (z - mu) rstd, gy = (w xhat + b - target) w,
// g = (gy - mean(gy) - xhat mean(gy xhat)) rstd.
void ln_l2_grad(const Tensor& z, const Tensor& target, const Tensor& weight, const Tensor& bias, double eps, const Tensor& g,
                const Tensor& mean, const Tensor& rstd) {
  dispatch_float(z.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t d = z.size(-1), len = z.size(-2), heads = z.size(-3), rows = z.numel() / d;
    const T *pz = z.data<T>(), *pt = target.data<T>(), *pw = weight.data<T>(), *pb = bias.data<T>();
    T *pg = g.data<T>(), *pm = mean.data<T>(), *pr = rstd.data<T>();
    std::vector<double> xhat(static_cast<size_t>(d)), gy(static_cast<size_t>(d));
    for (int64_t r = 0; r < rows; ++r) {
      const T *a = pz + r * d, *t = pt + r * d, *w = pw + (r / len) % heads * d, *b = pb + (r / len) % heads * d;
      double mu = 0, var = 0;
      for (int64_t j = 0; j < d; ++j) mu += a[j];
      mu /= d;
      for (int64_t j = 0; j < d; ++j) var += (a[j] - mu) * (a[j] - mu);
      const double rs = 1.0 / std::sqrt(var / d + eps);
      double mean_gy = 0, mean_gyx = 0;
      for (int64_t j = 0; j < d; ++j) {
        xhat[j] = (a[j] - mu) * rs;
        gy[j] = (double(w[j]) * xhat[j] + b[j] - t[j]) * w[j];
        mean_gy += gy[j];
        mean_gyx += gy[j] * xhat[j];
      }
      mean_gy /= d, mean_gyx /= d;
      for (int64_t j = 0; j < d; ++j) pg[r * d + j] = static_cast<T>((gy[j] - mean_gy - xhat[j] * mean_gyx) * rs);
      pm[r] = static_cast<T>(mu);
      pr[r] = static_cast<T>(rs);
    }
  });
}

// E10's backward per row, with u = grad rstd, c = mean(xhat gy):
//   dgy = u - mean(u) - xhat mean(u xhat)            (g's own layer-norm backward)
//   dxhat = w^2 dgy - c u - mean(u xhat) gy           (through gy, and through xhat in g's formula)
//   dz = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) - xhat sum(u g) / d   (the last term: rstd in g)
//   dtarget = -w dgy, and the shares dw = dgy (2 w xhat + b - target), db = dgy w.
void ln_l2_grad_backward(const Tensor& grad, const Tensor& z, const Tensor& target, const Tensor& weight, const Tensor& bias,
                         const Tensor& g, const Tensor& mean, const Tensor& rstd, const Tensor& grad_z, const Tensor& grad_target,
                         const Tensor& grad_weight_rows, const Tensor& grad_bias_rows) {
  dispatch_float(z.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t d = z.size(-1), len = z.size(-2), heads = z.size(-3), rows = z.numel() / d;
    const T *pdg = grad.data<T>(), *pz = z.data<T>(), *pt = target.data<T>(), *pw = weight.data<T>(), *pb = bias.data<T>();
    const T *pg = g.data<T>(), *pm = mean.data<T>(), *pr = rstd.data<T>();
    T* pdz = grad_z.data<T>();
    T* pdt = grad_target.defined() ? grad_target.data<T>() : nullptr;
    T* pdw = grad_weight_rows.defined() ? grad_weight_rows.data<T>() : nullptr;
    T* pdb = grad_bias_rows.defined() ? grad_bias_rows.data<T>() : nullptr;
    std::vector<double> xhat(static_cast<size_t>(d)), gy(static_cast<size_t>(d)), u(static_cast<size_t>(d)),
        dxhat(static_cast<size_t>(d));
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t o = r * d;
      const T *w = pw + (r / len) % heads * d, *b = pb + (r / len) % heads * d;
      const double mu = pm[r], rs = pr[r];
      double c = 0, mean_u = 0, mean_ux = 0, u_dot_g = 0;
      for (int64_t j = 0; j < d; ++j) {
        xhat[j] = (pz[o + j] - mu) * rs;
        gy[j] = (double(w[j]) * xhat[j] + b[j] - pt[o + j]) * w[j];
        u[j] = double(pdg[o + j]) * rs;
        c += xhat[j] * gy[j], mean_u += u[j], mean_ux += u[j] * xhat[j], u_dot_g += u[j] * pg[o + j];
      }
      c /= d, mean_u /= d, mean_ux /= d;
      double mean_dx = 0, mean_dxx = 0;
      for (int64_t j = 0; j < d; ++j) {
        const double dgy = u[j] - mean_u - xhat[j] * mean_ux;
        dxhat[j] = double(w[j]) * w[j] * dgy - c * u[j] - mean_ux * gy[j];
        mean_dx += dxhat[j], mean_dxx += dxhat[j] * xhat[j];
        if (pdt) pdt[o + j] = static_cast<T>(-double(w[j]) * dgy);
        if (pdw) pdw[o + j] = static_cast<T>(dgy * (2.0 * w[j] * xhat[j] + b[j] - pt[o + j]));
        if (pdb) pdb[o + j] = static_cast<T>(dgy * w[j]);
      }
      mean_dx /= d, mean_dxx /= d;
      for (int64_t j = 0; j < d; ++j)
        pdz[o + j] = static_cast<T>(rs * (dxhat[j] - mean_dx - xhat[j] * mean_dxx) - xhat[j] * u_dot_g / d);
    }
  });
}

}  // namespace ttt::cpu
