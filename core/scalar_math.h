// Scalar formulas of the elementwise ops, shared by the CPU and CUDA kernels so both backends
// compute exactly the same expressions (the fused TTT scan too: ttt/kernels/scan_algo.h). Templated
// on float/double; the double overloads name the C functions with ::, since ttt:: has Tensor ops of
// the same names.
#pragma once
#include <math.h>

#include "core/op_kinds.h"

#if defined(__CUDACC__)
#define TTT_HD __host__ __device__ __forceinline__
#else
#define TTT_HD inline
#endif

namespace ttt::math {

TTT_HD float m_exp(float x) { return expf(x); }
TTT_HD double m_exp(double x) { return ::exp(x); }
TTT_HD float m_log(float x) { return logf(x); }
TTT_HD double m_log(double x) { return ::log(x); }
TTT_HD float m_sqrt(float x) { return sqrtf(x); }
TTT_HD double m_sqrt(double x) { return ::sqrt(x); }
TTT_HD float m_tanh(float x) { return tanhf(x); }
TTT_HD double m_tanh(double x) { return ::tanh(x); }
TTT_HD float m_pow(float x, float y) { return powf(x, y); }
TTT_HD double m_pow(double x, double y) { return ::pow(x, y); }
TTT_HD float m_abs(float x) { return fabsf(x); }
TTT_HD double m_abs(double x) { return ::fabs(x); }

template <class T>
TTT_HD T sigmoid(T x) {
  return T(1) / (T(1) + m_exp(-x));
}

// gelu, tanh approximation. u = k (x + c x^3), t = tanh(u).
template <class T>
struct GeluParts {
  T t, du;  // tanh(u), du/dx
};
template <class T>
TTT_HD GeluParts<T> gelu_parts(T x) {
  const T k = T(0.7978845608028654), c = T(0.044715);
  T u = k * (x + c * x * x * x);
  return {m_tanh(u), k * (T(1) + T(3) * c * x * x)};
}
template <class T>
TTT_HD T gelu(T x) {
  return T(0.5) * x * (T(1) + gelu_parts(x).t);
}
// gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) u'
template <class T>
TTT_HD T gelu_grad(T x) {
  auto p = gelu_parts(x);
  return T(0.5) * (T(1) + p.t) + T(0.5) * x * (T(1) - p.t * p.t) * p.du;
}
// gelu''(x) = (1 - t^2) (u' - x t u'^2 + 0.5 x u''),  u'' = 6 k c x
template <class T>
TTT_HD T gelu_grad2(T x) {
  const T k = T(0.7978845608028654), c = T(0.044715);
  auto p = gelu_parts(x);
  T d2u = T(6) * k * c * x;
  return (T(1) - p.t * p.t) * (p.du - x * p.t * p.du * p.du + T(0.5) * x * d2u);
}

// silu'(x) = s (1 + x (1 - s)), s = sigmoid(x)
template <class T>
TTT_HD T silu_grad(T x) {
  T s = sigmoid(x);
  return s * (T(1) + x * (T(1) - s));
}

template <class T>
TTT_HD T unary(UnaryOp op, T x, T a, T b) {
  switch (op) {
    case UnaryOp::neg:
      return -x;
    case UnaryOp::exp:
      return m_exp(x);
    case UnaryOp::log:
      return m_log(x);
    case UnaryOp::sqrt:
      return m_sqrt(x);
    case UnaryOp::rsqrt:
      return T(1) / m_sqrt(x);
    case UnaryOp::tanh:
      return m_tanh(x);
    case UnaryOp::sigmoid:
      return sigmoid(x);
    case UnaryOp::silu:
      return x * sigmoid(x);
    case UnaryOp::silu_grad:
      return silu_grad(x);
    case UnaryOp::gelu:
      return gelu(x);
    case UnaryOp::gelu_grad:
      return gelu_grad(x);
    case UnaryOp::gelu_grad2:
      return gelu_grad2(x);
    case UnaryOp::abs:
      return m_abs(x);
    case UnaryOp::sign:
      return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
    case UnaryOp::square:
      return x * x;
    case UnaryOp::reciprocal:
      return T(1) / x;
    case UnaryOp::pow_scalar:
      return m_pow(x, a);
    case UnaryOp::clamp:
      return x < a ? a : (x > b ? b : x);
    case UnaryOp::in_range:
      return (x >= a && x <= b) ? T(1) : T(0);
    case UnaryOp::affine:
      return a * x + b;
  }
  return x;
}

template <class T>
TTT_HD T binary(BinaryOp op, T x, T y) {
  switch (op) {
    case BinaryOp::add:
      return x + y;
    case BinaryOp::sub:
      return x - y;
    case BinaryOp::mul:
      return x * y;
    case BinaryOp::div:
      return x / y;
    case BinaryOp::pow:
      return m_pow(x, y);
    case BinaryOp::maximum:
      return x > y ? x : y;
    case BinaryOp::minimum:
      return x < y ? x : y;
    case BinaryOp::eq:
      return x == y ? T(1) : T(0);
    case BinaryOp::gt:
      return x > y ? T(1) : T(0);
    case BinaryOp::times_gelu_grad:
      return x * gelu_grad(y);
    case BinaryOp::times_gelu_grad2:
      return x * gelu_grad2(y);
    case BinaryOp::times_silu_grad:
      return x * silu_grad(y);
  }
  return x;
}

// The SwiGLU gate y = silu(a) b and its gradients for an incoming gradient g:
// dy/da = b silu'(a) = b s (1 + a (1 - s)), dy/db = silu(a) = a s, with s = sigmoid(a).
template <class T>
TTT_HD T swiglu(T a, T b) {
  return a * sigmoid(a) * b;
}
template <class T>
TTT_HD void swiglu_grads(T a, T b, T g, T& da, T& db) {
  const T s = sigmoid(a);
  da = g * b * s * (T(1) + a * (T(1) - s));
  db = g * a * s;
}

}  // namespace ttt::math
