// The scan precision study's parts (bench/scan_precision.cpp prints the table; the test
// tests/ttt/test_scan_precision.cpp holds its bounds): one composed scan in f64 or in f32 with
// products at a chosen precision, from the same inputs, and the relative RMS error between two.
#pragma once
#include <cmath>
#include <vector>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "core/compute.h"
#include "core/rng.h"
#include "nn/init.h"
#include "ttt/fused_scan.h"
#include "ttt/inner_scan.h"

namespace ttt::scan_precision {

struct Case {
  const char* name;
  std::vector<int64_t> dims;  // d_0 .. d_L
  int64_t b;                  // mini-batch size
  double base_lr;             // ttt_base_lr
};

// rms(a - ref) / rms(ref), both f64 on the CPU
inline double relative_rms(const Tensor& a, const Tensor& ref) {
  const std::vector<double> x = a.to_vector<double>(), r = ref.to_vector<double>();
  double err = 0, norm = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += (x[i] - r[i]) * (x[i] - r[i]);
    norm += r[i] * r[i];
  }
  return norm > 0 ? std::sqrt(err / norm) : std::sqrt(err);
}

struct Run {
  Tensor out;                 // [1, H, n, b, d], f64
  std::vector<Tensor> state;  // final weights, then biases
  std::vector<Tensor> grads;  // of xq, xk, target, eta, ln_weight, ln_bias, weights..., biases...
};

inline const char* kLeafNames[] = {"xq", "xk", "target", "eta", "ln_weight", "ln_bias"};

// The scan's inputs for `heads` sequences of n mini-batches, made in f64 on the CPU from `seed`,
// then converted to `dtype` on `device` as leaves that require gradients.
inline ScanInputs make_inputs(const Case& c, int64_t heads, int64_t n, uint64_t seed, DType dtype, Device device) {
  Generator gen(seed);
  const int64_t H = heads, b = c.b, d = c.dims.front();
  auto leaf = [&](const Tensor& t) {
    Tensor x = to_device(to_dtype(t, dtype), device);
    x.set_requires_grad(true);
    return x;
  };
  auto normal = [&](const Shape& shape, double std) { return to_dtype(nn::init::normal(shape, 0, std, gen), DType::f64); };
  ScanInputs in;
  in.xq = leaf(l2_normalize(normal({1, H, n, b, d}, 1)));
  in.xk = leaf(l2_normalize(normal({1, H, n, b, d}, 1)));
  in.target = leaf(normal({1, H, n, b, d}, 1));
  // eta[i, j]: w_pos[i] = 1 / (i + 1) times the token j's base_lr sigmoid(logit) / d, causal
  Tensor lr_tok = affine(sigmoid(normal({1, H, n, 1, b}, 1)), c.base_lr / static_cast<double>(d), 0);
  std::vector<double> inv(static_cast<size_t>(b));
  for (int64_t i = 0; i < b; ++i) inv[static_cast<size_t>(i)] = 1.0 / static_cast<double>(i + 1);
  in.eta = leaf(compute::tri(mul(from_vector(inv, {b, 1}, DType::f64), lr_tok), 0, true));
  in.ln_weight = leaf(affine(normal({H, d}, 0.02), 1, 1));
  in.ln_bias = leaf(normal({H, d}, 0.02));
  for (size_t l = 0; l + 1 < c.dims.size(); ++l) {
    in.weights.push_back(leaf(normal({1, H, c.dims[l], c.dims[l + 1]}, 0.02)));
    in.biases.push_back(leaf(zeros({1, H, 1, c.dims[l + 1]}, DType::f64)));
  }
  return in;
}

// One scan and the backward of sum(out * w_out) + sum(state * w_state) with fixed random w, in
// `dtype` on `device` with products at `precision`, from make_inputs(seed). The composed scan
// (fused false) rounds through compute::set_matmul_precision, the fused one through
// ScanOptions::precision (ttt.scan_precision: the CPU executor, or on a GPU the tensor-core kernels).
inline Run run(const Case& c, int64_t heads, int64_t n, uint64_t seed, DType dtype, MatmulPrecision precision, bool fused = false,
               Device device = Device::cpu()) {
  const ScanInputs in = make_inputs(c, heads, n, seed, dtype, device);
  std::vector<Tensor> leaves = {in.xq, in.xk, in.target, in.eta, in.ln_weight, in.ln_bias};
  leaves.insert(leaves.end(), in.weights.begin(), in.weights.end());
  leaves.insert(leaves.end(), in.biases.begin(), in.biases.end());

  struct Precision {  // forward and backward: every product of the scan; restored however it ends
    explicit Precision(MatmulPrecision p) : before(compute::matmul_precision()) { compute::set_matmul_precision(p); }
    ~Precision() { compute::set_matmul_precision(before); }
    MatmulPrecision before;
  } scope(fused ? MatmulPrecision::f32 : precision);
  ScanOptions options;
  options.precision = precision;
  ScanOutputs o = fused ? fused_scan(in, options) : composed_scan(in, options);
  std::vector<Tensor> values = {o.out};
  values.insert(values.end(), o.weights.begin(), o.weights.end());
  values.insert(values.end(), o.biases.begin(), o.biases.end());
  Generator wgen(seed + 1000);
  Tensor loss;
  for (const Tensor& v : values) {
    Tensor term = sum(mul(v, to_device(to_dtype(nn::init::normal(v.shape(), 0, 1, wgen), dtype), device)));
    loss = loss.defined() ? add(loss, term) : term;
  }
  backward(loss);

  Run r;
  auto host_f64 = [](const Tensor& t) { return to_dtype(to_device(t, Device::cpu()), DType::f64); };
  r.out = host_f64(o.out.detach());
  for (size_t i = 1; i < values.size(); ++i) r.state.push_back(host_f64(values[i].detach()));
  for (const Tensor& t : leaves) r.grads.push_back(host_f64(t.grad()));
  return r;
}

}  // namespace ttt::scan_precision
