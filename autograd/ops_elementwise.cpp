// Elementwise ops: forward and backward side by side. Binary gradients are summed back to each
// input's shape (compute::sum_to) because broadcasting repeats the input along some dims.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "core/compute.h"

namespace ttt {

using compute::sum_to;
using V = std::vector<Tensor>;

namespace {
Tensor un(UnaryOp op, const Tensor& x, double a = 0, double b = 0) { return compute::unary(op, x, a, b); }
// op(x, y) as the gradient of an input of `shape`: added into the engine's lent sum in the kernel
// that computes it when the term has the sum's shape (autograd/node.h, AccumulatingBackwardFn),
// else a new tensor, summed back over broadcast dims, that the engine adds.
Tensor gradient_term(BinaryOp op, const Tensor& x, const Tensor& y, const Shape& shape, const Tensor& sum) {
  if (sum.defined() && sum.shape() == shape && sum.dtype() == x.dtype() && x.dtype() != DType::bf16 &&
      broadcast_shapes(x.shape(), y.shape(), "gradient") == shape) {
    compute::binary_accumulate(op, x, y, sum);
    return sum;
  }
  return sum_to(compute::binary(op, x, y), shape);
}

// The gradient g f'(x) of an activation f, in one kernel (op: BinaryOp::times_gelu_grad, ...).
Tensor activation(const char* name, UnaryOp f, BinaryOp times_grad, const Tensor& x) {
  return record_accumulating(un(f, x), name, {x}, [x = x.detach(), times_grad](const Tensor& g, const V& sums) {
    return V{gradient_term(times_grad, g, x, x.shape(), sums[0])};
  });
}
}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor y = compute::binary(BinaryOp::add, a, b);
  return record(y, "add", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) { return V{sum_to(g, sa), sum_to(g, sb)}; });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor y = compute::binary(BinaryOp::sub, a, b);
  return record(y, "sub", {a, b}, [sa = a.shape(), sb = b.shape(), nb = b.requires_grad()](const Tensor& g) {
    return V{sum_to(g, sa), nb ? sum_to(neg(g), sb) : Tensor()};  // no negation for a b that takes no gradient
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor y = compute::binary(BinaryOp::mul, a, b);
  return record_accumulating(
      y, "mul", {a, b},
      [a = a.detach(), b = b.detach(), na = a.requires_grad(), nb = b.requires_grad()](const Tensor& g, const V& sums) {
        return V{na ? gradient_term(BinaryOp::mul, g, b, a.shape(), sums[0]) : Tensor(),
                 nb ? gradient_term(BinaryOp::mul, g, a, b.shape(), sums[1]) : Tensor()};
      });
}

// d(a/b)/da = 1/b, d(a/b)/db = -a/b^2 = -y/b
Tensor div(const Tensor& a, const Tensor& b) {
  Tensor y = compute::binary(BinaryOp::div, a, b);
  return record(y, "div", {a, b}, [b = b.detach(), y = y.detach(), sa = a.shape(), nb = b.requires_grad()](const Tensor& g) {
    Tensor ga = div(g, b);
    return V{sum_to(ga, sa), nb ? sum_to(neg(mul(ga, y)), b.shape()) : Tensor()};
  });
}

// d(a^b)/da = b a^(b-1), d(a^b)/db = a^b log a
Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor y = compute::binary(BinaryOp::pow, a, b);
  return record(
      y, "pow", {a, b},
      [a = a.detach(), b = b.detach(), y = y.detach(), na = a.requires_grad(), nb = b.requires_grad()](const Tensor& g) {
        Tensor ga, gb;
        if (na) ga = sum_to(mul(g, mul(b, pow(a, sub(b, ones({}, b.dtype(), b.device()))))), a.shape());
        if (nb) gb = sum_to(mul(g, mul(y, log(a))), b.shape());
        return V{ga, gb};
      });
}

// The gradient goes to the larger (maximum) / smaller (minimum) input; ties split it evenly.
static Tensor extremum(const Tensor& a, const Tensor& b, bool is_max) {
  Tensor y = compute::binary(is_max ? BinaryOp::maximum : BinaryOp::minimum, a, b);
  return record(y, is_max ? "maximum" : "minimum", {a, b}, [a = a.detach(), b = b.detach(), is_max](const Tensor& g) {
    Tensor win_a = compute::binary(BinaryOp::gt, is_max ? a : b, is_max ? b : a);
    Tensor tie = compute::binary(BinaryOp::eq, a, b);
    Tensor share_a = add(win_a, mul(tie, scalar_tensor(0.5, tie.dtype(), tie.device())));
    Tensor share_b = affine(share_a, -1.0, 1.0);
    return V{sum_to(mul(g, share_a), a.shape()), sum_to(mul(g, share_b), b.shape())};
  });
}
Tensor maximum(const Tensor& a, const Tensor& b) { return extremum(a, b, true); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum(a, b, false); }

Tensor affine(const Tensor& x, double scale, double shift) {
  Tensor y = un(UnaryOp::affine, x, scale, shift);
  return record(y, "affine", {x}, [scale](const Tensor& g) { return V{scale == 1.0 ? g : affine(g, scale, 0.0)}; });
}

Tensor pow(const Tensor& x, double p) {
  Tensor y = un(UnaryOp::pow_scalar, x, p);
  return record(y, "pow", {x}, [x = x.detach(), p](const Tensor& g) { return V{mul(g, affine(pow(x, p - 1.0), p, 0.0))}; });
}

Tensor neg(const Tensor& x) {
  return record(un(UnaryOp::neg, x), "neg", {x}, [](const Tensor& g) { return V{neg(g)}; });
}

Tensor exp(const Tensor& x) {
  Tensor y = un(UnaryOp::exp, x);
  return record(y, "exp", {x}, [y = y.detach()](const Tensor& g) { return V{mul(g, y)}; });
}

Tensor log(const Tensor& x) {
  return record(un(UnaryOp::log, x), "log", {x}, [x = x.detach()](const Tensor& g) { return V{div(g, x)}; });
}

// d sqrt(x) = 1 / (2 sqrt(x))
Tensor sqrt(const Tensor& x) {
  Tensor y = un(UnaryOp::sqrt, x);
  return record(y, "sqrt", {x}, [y = y.detach()](const Tensor& g) { return V{div(g, affine(y, 2.0, 0.0))}; });
}

// d x^(-1/2) = -1/2 x^(-3/2) = -y^3 / 2
Tensor rsqrt(const Tensor& x) {
  Tensor y = un(UnaryOp::rsqrt, x);
  return record(y, "rsqrt", {x},
                [y = y.detach()](const Tensor& g) { return V{mul(g, affine(mul(y, un(UnaryOp::square, y)), -0.5, 0.0))}; });
}

// d tanh = 1 - y^2
Tensor tanh(const Tensor& x) {
  Tensor y = un(UnaryOp::tanh, x);
  return record(y, "tanh", {x},
                [y = y.detach()](const Tensor& g) { return V{mul(g, affine(un(UnaryOp::square, y), -1.0, 1.0))}; });
}

// d sigmoid = y (1 - y)
Tensor sigmoid(const Tensor& x) {
  Tensor y = un(UnaryOp::sigmoid, x);
  return record(y, "sigmoid", {x}, [y = y.detach()](const Tensor& g) { return V{mul(g, mul(y, affine(y, -1.0, 1.0)))}; });
}

Tensor silu(const Tensor& x) { return activation("silu", UnaryOp::silu, BinaryOp::times_silu_grad, x); }

Tensor gelu(const Tensor& x) { return activation("gelu", UnaryOp::gelu, BinaryOp::times_gelu_grad, x); }

// The TTT inner backward (E11) uses gelu'(Z) in the forward pass; the outer backward then needs gelu''.
Tensor gelu_grad(const Tensor& x) { return activation("gelu_grad", UnaryOp::gelu_grad, BinaryOp::times_gelu_grad2, x); }

// d|x| = sign(x) (0 at 0)
Tensor abs(const Tensor& x) {
  return record(un(UnaryOp::abs, x), "abs", {x}, [x = x.detach()](const Tensor& g) { return V{mul(g, un(UnaryOp::sign, x))}; });
}

Tensor square(const Tensor& x) {
  return record(un(UnaryOp::square, x), "square", {x},
                [x = x.detach()](const Tensor& g) { return V{mul(g, affine(x, 2.0, 0.0))}; });
}

// Gradient passes where lo <= x <= hi.
Tensor clamp(const Tensor& x, double lo, double hi) {
  return record(un(UnaryOp::clamp, x, lo, hi), "clamp", {x},
                [x = x.detach(), lo, hi](const Tensor& g) { return V{mul(g, un(UnaryOp::in_range, x, lo, hi))}; });
}

}  // namespace ttt
