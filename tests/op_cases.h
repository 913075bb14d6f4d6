// The op test table (after ggml's test-backend-ops): one entry per op and shape variant. The
// gradcheck suite runs every case in f64 on the CPU against finite differences; the CUDA parity
// suite runs every case in f32 on both backends and compares outputs and gradients.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "core/rng.h"

namespace ttt::testing {

// How to draw an input so the finite differences stay away from kinks and poles.
enum class Domain { any, positive, nonzero, clamp_safe };

struct OpCase {
  std::string name;
  std::vector<Shape> shapes;  // the float inputs, all checked
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  Domain domain = Domain::any;
};

// gtest prints a parameter with this (instead of its bytes).
inline void PrintTo(const OpCase& c, std::ostream* os) { *os << c.name; }

inline Tensor ids_on(const std::vector<int64_t>& v, const Shape& s, const Tensor& like) {
  std::vector<double> d(v.begin(), v.end());
  return from_vector(d, s, DType::i64, like.device());
}

inline Tensor make_input(const Shape& shape, Domain domain, DType dtype, Device device, Generator& gen) {
  std::vector<double> u = rand(shape, gen, DType::f64).to_vector<double>();
  std::vector<double> s = rand(shape, gen, DType::f64).to_vector<double>();
  for (size_t i = 0; i < u.size(); ++i) {
    const double sign = s[i] < 0.5 ? -1.0 : 1.0;
    double& x = u[i];
    switch (domain) {
      case Domain::any:
        x = 4 * x - 2;
        break;  // (-2, 2)
      case Domain::positive:
        x = 0.5 + 1.5 * x;
        break;  // (0.5, 2)
      case Domain::nonzero:
        x = sign * (0.2 + 1.8 * x);
        break;                  // |x| in (0.2, 2)
      case Domain::clamp_safe:  // |x| away from the bounds 0.5
        x = sign * (x < 0.5 ? 0.1 + 0.6 * x : 0.6 + 1.8 * (x - 0.5));
        break;
    }
  }
  return from_vector(u, shape, dtype, device);
}

inline std::vector<OpCase> op_cases() {
  using T = const std::vector<Tensor>&;
  std::vector<OpCase> c;
  // elementwise binary, with broadcasting and odd shapes
  c.push_back({"add", {{3, 5}, {3, 5}}, [](T x) { return add(x[0], x[1]); }});
  c.push_back({"add_broadcast", {{2, 3, 4}, {3, 1}}, [](T x) { return add(x[0], x[1]); }});
  c.push_back({"sub_broadcast", {{4}, {2, 3, 4}}, [](T x) { return sub(x[0], x[1]); }});
  c.push_back({"mul_broadcast", {{2, 1, 5}, {3, 1}}, [](T x) { return mul(x[0], x[1]); }});
  c.push_back({"mul_scalar_tensor", {{3, 7}, {}}, [](T x) { return mul(x[0], x[1]); }});
  c.push_back({"div", {{3, 4}, {3, 4}}, [](T x) { return div(x[0], x[1]); }, Domain::positive});
  c.push_back({"div_broadcast", {{2, 3, 4}, {1, 4}}, [](T x) { return div(x[0], x[1]); }, Domain::positive});
  c.push_back({"pow_tensor", {{3, 4}, {3, 4}}, [](T x) { return pow(x[0], x[1]); }, Domain::positive});
  c.push_back({"maximum", {{4, 5}, {5}}, [](T x) { return maximum(x[0], x[1]); }});
  c.push_back({"minimum", {{4, 5}, {4, 1}}, [](T x) { return minimum(x[0], x[1]); }});
  // elementwise unary
  c.push_back({"affine", {{3, 4}}, [](T x) { return x[0] * 2.5 - 1.0; }});
  c.push_back({"pow_scalar", {{3, 4}}, [](T x) { return pow(x[0], 1.7); }, Domain::positive});
  c.push_back({"neg", {{5}}, [](T x) { return neg(x[0]); }});
  c.push_back({"exp", {{2, 3}}, [](T x) { return exp(x[0]); }});
  c.push_back({"log", {{2, 3}}, [](T x) { return log(x[0]); }, Domain::positive});
  c.push_back({"sqrt", {{2, 3}}, [](T x) { return sqrt(x[0]); }, Domain::positive});
  c.push_back({"rsqrt", {{2, 3}}, [](T x) { return rsqrt(x[0]); }, Domain::positive});
  c.push_back({"tanh", {{2, 5}}, [](T x) { return tanh(x[0]); }});
  c.push_back({"sigmoid", {{2, 5}}, [](T x) { return sigmoid(x[0]); }});
  c.push_back({"silu", {{2, 5}}, [](T x) { return silu(x[0]); }});
  c.push_back({"gelu", {{2, 5}}, [](T x) { return gelu(x[0]); }});
  c.push_back({"gelu_grad", {{2, 5}}, [](T x) { return gelu_grad(x[0]); }});
  c.push_back({"abs", {{2, 5}}, [](T x) { return abs(x[0]); }, Domain::nonzero});
  c.push_back({"square", {{2, 5}}, [](T x) { return square(x[0]); }});
  c.push_back({"clamp", {{4, 5}}, [](T x) { return clamp(x[0], -0.5, 0.5); }, Domain::clamp_safe});
  // reductions
  c.push_back({"sum_all", {{3, 4}}, [](T x) { return sum(x[0]); }});
  c.push_back({"sum_dim_keep", {{3, 4, 5}}, [](T x) { return sum(x[0], {1}, true); }});
  c.push_back({"sum_dims_0_2", {{3, 4, 5}}, [](T x) { return sum(x[0], {0, 2}); }});
  c.push_back({"mean_last", {{3, 7}}, [](T x) { return mean(x[0], {-1}); }});
  c.push_back({"max_dim", {{4, 6}}, [](T x) { return max(x[0], {1}); }});
  c.push_back({"max_all", {{3, 5}}, [](T x) { return max(x[0]); }});
  c.push_back({"var_dim", {{4, 6}}, [](T x) { return var(x[0], {1}, true); }});
  c.push_back({"var_biased_all", {{3, 5}}, [](T x) { return var(x[0], {}, false, false); }});
  // matmul with transposes and batch broadcasting
  c.push_back({"matmul", {{3, 4}, {4, 5}}, [](T x) { return matmul(x[0], x[1]); }});
  c.push_back({"matmul_ta", {{4, 3}, {4, 5}}, [](T x) { return matmul(x[0], x[1], true, false); }});
  c.push_back({"matmul_tb", {{3, 4}, {5, 4}}, [](T x) { return matmul(x[0], x[1], false, true); }});
  c.push_back({"matmul_ta_tb", {{4, 3}, {5, 4}}, [](T x) { return matmul(x[0], x[1], true, true); }});
  c.push_back({"matmul_batched", {{2, 3, 4}, {2, 4, 5}}, [](T x) { return matmul(x[0], x[1]); }});
  c.push_back({"matmul_shared_b", {{2, 3, 3, 4}, {4, 2}}, [](T x) { return matmul(x[0], x[1]); }});
  c.push_back({"matmul_broadcast", {{2, 3, 2, 4}, {3, 4, 5}}, [](T x) { return matmul(x[0], x[1], false, false); }});
  c.push_back({"matmul_broadcast_t", {{2, 1, 4, 3}, {1, 3, 5, 4}}, [](T x) { return matmul(x[0], x[1], true, true); }});
  // c + a b in one GEMM: into a fresh c's buffer, and a broadcast c copied first
  c.push_back({"matmul_add", {{2, 3, 4}, {2, 3, 5}, {2, 5, 4}}, [](T x) { return matmul_add(x[0] * 2.0, x[1], x[2]); }});
  c.push_back(
      {"matmul_add_broadcast_t", {{1, 4}, {2, 5, 3}, {4, 5}}, [](T x) { return matmul_add(x[0], x[1], x[2], true, true); }});
  // x feeds several elementwise products and an activation: their gradient terms are added into
  // the sum in place, a broadcast input's (c) summed first
  c.push_back({"elementwise_gradients_sum_in_place", {{3, 4}, {3, 4}, {3, 1}}, [](T x) {
                 return mul(x[0], x[1]) + gelu(x[0]) + mul(mul(x[2], x[1]), x[0]);
               }});
  // a and b each feed several products, transposed and not: backward adds later products into the
  // gradient gathered so far with one GEMM (autograd/engine.cpp); w is broadcast, so it cannot
  c.push_back({"matmul_gradients_sum_in_place", {{2, 3, 4}, {2, 4, 4}, {4, 4}}, [](T x) {
                 Tensor p = matmul(x[0], x[1]);
                 Tensor q = matmul(p, x[1], false, true);
                 Tensor r = matmul(q, x[2]);
                 Tensor s = matmul(x[0], r, true, false);  // [2, 4, 4]
                 return matmul(r, s) + matmul(x[0], x[2], false, true) + matmul(x[0], x[1], false, true);
               }});
  // shape and layout
  c.push_back({"reshape", {{2, 6}}, [](T x) { return reshape(x[0], {3, -1}) * 2.0; }});
  c.push_back({"permute", {{2, 3, 4}}, [](T x) { return permute(x[0], {2, 0, 1}); }});
  c.push_back({"transpose", {{2, 3, 4}}, [](T x) { return transpose(x[0], 0, -1); }});
  c.push_back({"expand", {{3, 1}}, [](T x) { return expand(x[0], {2, 3, 4}); }});
  c.push_back({"slice_inner", {{3, 6, 2}}, [](T x) { return slice(x[0], 1, 1, 4); }});
  c.push_back({"slice_leading_view", {{5, 3}}, [](T x) { return slice(x[0], 0, 1, -1); }});
  c.push_back({"cat", {{2, 3}, {2, 4}}, [](T x) { return cat({x[0], x[1]}, 1); }});
  c.push_back({"stack", {{2, 3}, {2, 3}}, [](T x) { return stack({x[0], x[1]}, 1); }});
  c.push_back({"split", {{2, 5}}, [](T x) {
                 auto p = split(x[0], {2, 3}, 1);
                 return cat({p[1], p[0] * 3.0}, 1);
               }});
  c.push_back({"split_unused_part", {{2, 6}}, [](T x) {
                 auto p = split(x[0], {1, 2, 3}, 1);
                 return cat({p[2] * 2.0, p[0]}, 1);  // the middle part gets no gradient
               }});
  c.push_back({"unstack", {{3, 4, 2}}, [](T x) {
                 auto p = unstack(x[0], 1);
                 return add(mul(p[0], p[3]), p[1] * 3.0);
               }});
  c.push_back({"flip", {{3, 4, 2}}, [](T x) { return flip(x[0], 1); }});
  c.push_back({"tril", {{2, 4, 4}}, [](T x) { return tril(x[0]); }});
  c.push_back({"triu_k1", {{3, 5}}, [](T x) { return triu(x[0], 1); }});
  c.push_back({"clone", {{2, 3}}, [](T x) { return clone(x[0]) * x[0]; }});
  c.push_back({"unsqueeze_squeeze", {{3, 4}}, [](T x) { return squeeze(unsqueeze(x[0], 1) * 2.0, 1); }});
  // neural-network ops
  c.push_back({"embedding", {{7, 5}}, [](T x) { return embedding(x[0], ids_on({1, 3, 1, 6, 0, 3}, {2, 3}, x[0])); }});
  // -1: no token (a zero row, no gradient)
  c.push_back({"embedding_no_token", {{7, 5}}, [](T x) { return embedding(x[0], ids_on({1, -1, 6, -1, 0, 3}, {2, 3}, x[0])); }});
  c.push_back({"softmax", {{3, 6}}, [](T x) { return softmax(x[0]); }});
  c.push_back({"softmax_dim0", {{4, 3}}, [](T x) { return softmax(x[0], 0); }});
  c.push_back({"log_softmax", {{3, 6}}, [](T x) { return log_softmax(x[0]); }});
  c.push_back({"swiglu", {{3, 8}}, [](T x) { return swiglu(x[0]); }});
  c.push_back({"swiglu_batched", {{2, 3, 4}}, [](T x) { return swiglu(x[0]); }});
  c.push_back({"attention_softmax_scaled", {{2, 4, 4}}, [](T x) { return attention_softmax(x[0], 0.7, false, 0); }});
  c.push_back({"attention_softmax_causal", {{2, 5, 5}}, [](T x) { return attention_softmax(x[0], 0.7, true, 0); }});
  c.push_back({"attention_softmax_causal_window", {{2, 6, 6}}, [](T x) { return attention_softmax(x[0], 1.3, true, 2); }});
  c.push_back({"attention_softmax_window", {{1, 6, 6}}, [](T x) { return attention_softmax(x[0], 0.5, false, 2); }});
  // attention as one op: causal products on blocks of 3 rows (S = 7: blocks 3, 3, 1), with a window, and unmasked
  c.push_back({"attention_causal_blocks", {{2, 7, 3}, {2, 7, 3}, {2, 7, 3}}, [](T x) {
                 return attention(x[0], x[1], x[2], 0.6, true, 0, 3);
               }});
  c.push_back({"attention_causal_window", {{1, 2, 6, 2}, {1, 2, 6, 2}, {1, 2, 6, 2}}, [](T x) {
                 return attention(x[0], x[1], x[2], 0.9, true, 3, 2);
               }});
  c.push_back({"attention_causal_recompute", {{2, 7, 3}, {2, 7, 3}, {2, 7, 3}}, [](T x) {
                 return attention(x[0], x[1], x[2], 0.6, true, 2, 3, true);
               }});
  c.push_back(
      {"attention_full", {{2, 5, 3}, {2, 5, 3}, {2, 5, 3}}, [](T x) { return attention(x[0], x[1], x[2], 0.5, false, 0, 2); }});
  c.push_back(
      {"attention_window", {{1, 6, 2}, {1, 6, 2}, {1, 6, 2}}, [](T x) { return attention(x[0], x[1], x[2], 0.5, false, 2, 4); }});
  c.push_back({"layer_norm", {{3, 8}, {8}, {8}}, [](T x) { return layer_norm(x[0], x[1], x[2], 1e-5); }});
  c.push_back({"layer_norm_plain", {{2, 3, 5}}, [](T x) { return layer_norm(x[0], Tensor(), Tensor(), 1e-6); }});
  c.push_back({"rms_norm", {{3, 8}, {8}}, [](T x) { return rms_norm(x[0], x[1], 1e-6); }});
  c.push_back({"cross_entropy", {{5, 7}}, [](T x) { return cross_entropy(x[0], ids_on({2, -100, 6, 0, 2}, {5}, x[0]), -100); }});
  // per-row losses, weighted afterwards (a row with target -1 is ignored: loss 0, no gradient)
  c.push_back({"cross_entropy_rows", {{5, 7}}, [](T x) {
                 const Tensor rows = cross_entropy_rows(x[0], ids_on({2, 4, -1, 0, 6}, {5}, x[0]), -1);  // f32 for bf16 logits
                 return mul(rows, from_vector({1.0, 0.5, 2.0, 1.0, 3.0}, {5}, rows.dtype(), rows.device()));
               }});
  c.push_back({"rope", {{2, 3, 5, 8}}, [](T x) { return rope(x[0], ids_on({0, 1, 2, 7, 100}, {5}, x[0]), 10000.0); }});
  c.push_back({"l2_normalize", {{3, 6}}, [](T x) { return l2_normalize(x[0]); }});
  c.push_back({"l2_normalize_mid_dim", {{3, 4, 2}}, [](T x) { return l2_normalize(x[0], 1); }});
  c.push_back({"unbiased_head_norm", {{2, 3, 4, 5}, {3, 5}, {3, 5}}, [](T x) { return unbiased_head_norm(x[0], x[1], x[2]); }});
  c.push_back(
      {"ln_l2_grad", {{2, 3, 4, 5}, {2, 3, 4, 5}, {3, 5}, {3, 5}}, [](T x) { return ln_l2_grad(x[0], x[1], x[2], x[3], 1e-6); }});
  return c;
}

}  // namespace ttt::testing
