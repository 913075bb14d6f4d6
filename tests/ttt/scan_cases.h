// Random inputs for the inner scan, shared by the CPU tests of the fused scan and its CUDA
// parity tests: both scans must compute the same function and the same gradients.
#pragma once
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "core/compute.h"
#include "core/rng.h"
#include "nn/init.h"
#include "ttt/fused_scan.h"

namespace ttt::testing {

struct ScanCase {
  std::string name;
  int64_t batch, heads, n, b;
  std::vector<int64_t> dims;  // d_0 .. d_L
  bool causal = true;
  bool shared_init = true;  // initial state [1, H, ...] (parameters) or [B, H, ...] (carried)
  int64_t padded = 0;       // tokens at the end of the last mini-batch with eta = 0
  int64_t group = 0;        // scan checkpoint group
};

// gtest prints a parameter with this (instead of its raw bytes).
inline void PrintTo(const ScanCase& c, std::ostream* os) { *os << c.name; }

inline std::vector<ScanCase> scan_cases() {
  return {
      {"linear", 2, 2, 3, 4, {4, 4}},
      {"mlp", 2, 2, 4, 3, {4, 8, 4}, true, true, 1},
      {"multilayer", 1, 2, 3, 4, {4, 6, 5, 4}},
      {"mlp_full_mode", 2, 1, 3, 4, {4, 8, 4}, false},
      {"mlp_carried_state", 2, 2, 3, 3, {4, 8, 4}, true, false},
      {"mlp_group2", 2, 2, 5, 3, {4, 8, 4}, true, true, 2, 2},
      {"multilayer_group3", 1, 2, 5, 2, {4, 6, 5, 4}, true, false, 0, 3},
      {"mlp_group1", 1, 2, 3, 3, {4, 8, 4}, true, true, 0, 1},  // every state kept, intermediates recomputed
  };
}

// `count` cases drawn at random (fixed seed): 1-3 inner layers of 2-20 units (d_0 = d_L, 4-12),
// 1-2 sequences of 1-3 heads, 1-5 mini-batches of 1-9 tokens, causal or full, shared or carried
// initial state, padding, checkpoint groups 0 to n. Named random_0, random_1, ...
inline std::vector<ScanCase> random_scan_cases(int count, uint32_t seed = 2026) {
  std::mt19937 rng(seed);
  auto pick = [&rng](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  std::vector<ScanCase> cases;
  for (int i = 0; i < count; ++i) {
    ScanCase c;
    c.name = "random_" + std::to_string(i);
    c.batch = pick(1, 2), c.heads = pick(1, 3), c.n = pick(1, 5), c.b = pick(1, 9);
    const int64_t layers = pick(1, 3), d = pick(4, 12);  // LayerNorm over d = 2 is too ill-conditioned for f32
    c.dims = {d};
    for (int64_t l = 1; l < layers; ++l) c.dims.push_back(pick(2, 20));
    c.dims.push_back(d);
    c.causal = pick(0, 1) == 1;
    c.shared_init = pick(0, 1) == 1;
    c.padded = pick(0, c.b - 1);
    c.group = pick(0, c.n);
    cases.push_back(c);
  }
  return cases;
}

// Inputs with requires_grad set (leaves), f64 or f32, on `device`.
inline ScanInputs make_scan_inputs(const ScanCase& c, DType dtype, Device device, uint64_t seed = 7) {
  Generator gen(seed);
  const int64_t d = c.dims.front(), B = c.batch, H = c.heads;
  auto leaf = [&](const Tensor& t) {
    Tensor x = to_device(to_dtype(t, dtype), device);
    x.set_requires_grad(true);
    return x;
  };
  ScanInputs in;
  in.xq = leaf(nn::init::normal({B, H, c.n, c.b, d}, 0, 1, gen));
  in.xk = leaf(nn::init::normal({B, H, c.n, c.b, d}, 0, 1, gen));
  in.target = leaf(nn::init::normal({B, H, c.n, c.b, d}, 0, 1, gen));
  // eta[i, j] >= 0; causal: zero above the diagonal; padding: zero columns at the end.
  Tensor eta = nn::init::uniform({B, H, c.n, c.b, c.b}, 0.05, 0.4, gen);
  if (c.causal) eta = compute::tri(eta, 0, true);
  if (c.padded > 0) {
    std::vector<double> mask(static_cast<size_t>(c.n * c.b * c.b), 1.0);
    for (int64_t i = 0; i < c.b; ++i)
      for (int64_t j = c.b - c.padded; j < c.b; ++j) mask[static_cast<size_t>(((c.n - 1) * c.b + i) * c.b + j)] = 0;
    eta = compute::binary(BinaryOp::mul, eta, from_vector(mask, {1, 1, c.n, c.b, c.b}));
  }
  in.eta = leaf(eta);
  in.ln_weight = leaf(compute::unary(UnaryOp::affine, nn::init::normal({H, d}, 0, 0.2, gen), 1.0, 1.0));
  in.ln_bias = leaf(nn::init::normal({H, d}, 0, 0.1, gen));
  const int64_t wb = c.shared_init ? 1 : B;
  for (size_t l = 0; l + 1 < c.dims.size(); ++l) {
    in.weights.push_back(leaf(nn::init::normal({wb, H, c.dims[l], c.dims[l + 1]}, 0, 0.4, gen)));
    in.biases.push_back(leaf(nn::init::normal({wb, H, 1, c.dims[l + 1]}, 0, 0.1, gen)));
  }
  return in;
}

inline std::vector<Tensor> scan_leaves(const ScanInputs& in) {
  std::vector<Tensor> v = {in.xq, in.xk, in.target, in.eta, in.ln_weight, in.ln_bias};
  v.insert(v.end(), in.weights.begin(), in.weights.end());
  v.insert(v.end(), in.biases.begin(), in.biases.end());
  return v;
}

inline const char* scan_leaf_name(size_t i, size_t layers) {
  static const char* fixed[] = {"xq", "xk", "target", "eta", "ln_weight", "ln_bias"};
  if (i < 6) return fixed[i];
  return i < 6 + layers ? "weight" : "bias";
}

struct ScanRun {
  std::vector<Tensor> values;  // out, final weights..., final biases...
  std::vector<Tensor> grads;   // of every leaf, in scan_leaves order
};

// Runs one scan and backward of a loss that weighs every output and every final state entry.
inline ScanRun run_scan(const ScanCase& c, bool fused, DType dtype, Device device) {
  ScanInputs in = make_scan_inputs(c, dtype, device);
  ScanOptions opt;
  opt.checkpoint_group = c.group;
  ScanOutputs o = fused ? fused_scan(in, opt) : composed_scan(in, opt);
  std::vector<Tensor> values = {o.out};
  values.insert(values.end(), o.weights.begin(), o.weights.end());
  values.insert(values.end(), o.biases.begin(), o.biases.end());
  Generator gen(99);
  Tensor loss;
  for (const Tensor& v : values) {
    Tensor w = to_device(to_dtype(nn::init::normal(v.shape(), 0, 1, gen), dtype), device);
    Tensor term = sum(mul(v, w));
    loss = loss.defined() ? add(loss, term) : term;
  }
  backward(loss);
  ScanRun r;
  for (const Tensor& v : values) r.values.push_back(to_dtype(to_device(v.detach(), Device::cpu()), DType::f64));
  for (const Tensor& t : scan_leaves(in)) r.grads.push_back(to_dtype(to_device(t.grad(), Device::cpu()), DType::f64));
  return r;
}

}  // namespace ttt::testing
