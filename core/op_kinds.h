// The elementwise and reduction operations the backends implement, named once for all backends.
#pragma once

namespace ttt {

// y = f(x; a, b). Parameters a, b are used only where noted.
enum class UnaryOp {
  neg,
  exp,
  log,
  sqrt,
  rsqrt,
  tanh,
  sigmoid,
  silu,
  silu_grad,   // d/dx silu(x)
  gelu,        // tanh approximation: 0.5 x (1 + tanh(k (x + 0.044715 x^3))), k = sqrt(2/pi)
  gelu_grad,   // d/dx gelu(x)
  gelu_grad2,  // d^2/dx^2 gelu(x) (backward of gelu_grad)
  abs,
  sign,
  square,
  reciprocal,
  pow_scalar,  // x^a
  clamp,       // min(max(x, a), b)
  in_range,    // 1 where a <= x <= b, else 0 (clamp's derivative mask)
  affine,      // a * x + b (scalar add / mul / sub)
};

// z = f(x, y) with NumPy broadcasting.
enum class BinaryOp {
  add,
  sub,
  mul,
  div,
  pow,  // x^y
  maximum,
  minimum,
  eq,  // 1 where x == y else 0
  gt,  // 1 where x > y else 0
  // backward steps in one kernel, not a unary op and a product: x f'(y) for an incoming gradient x
  times_gelu_grad,   // x gelu'(y)
  times_gelu_grad2,  // x gelu''(y)
  times_silu_grad,   // x silu'(y)
};

enum class ReduceOp { sum, max };

const char* unary_op_name(UnaryOp op);
const char* binary_op_name(BinaryOp op);

}  // namespace ttt
