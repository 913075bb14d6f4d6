#include "core/op_kinds.h"

namespace ttt {

const char* unary_op_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::neg:
      return "neg";
    case UnaryOp::exp:
      return "exp";
    case UnaryOp::log:
      return "log";
    case UnaryOp::sqrt:
      return "sqrt";
    case UnaryOp::rsqrt:
      return "rsqrt";
    case UnaryOp::tanh:
      return "tanh";
    case UnaryOp::sigmoid:
      return "sigmoid";
    case UnaryOp::silu:
      return "silu";
    case UnaryOp::silu_grad:
      return "silu_grad";
    case UnaryOp::gelu:
      return "gelu";
    case UnaryOp::gelu_grad:
      return "gelu_grad";
    case UnaryOp::gelu_grad2:
      return "gelu_grad2";
    case UnaryOp::abs:
      return "abs";
    case UnaryOp::sign:
      return "sign";
    case UnaryOp::square:
      return "square";
    case UnaryOp::reciprocal:
      return "reciprocal";
    case UnaryOp::pow_scalar:
      return "pow";
    case UnaryOp::clamp:
      return "clamp";
    case UnaryOp::in_range:
      return "in_range";
    case UnaryOp::affine:
      return "affine";
  }
  return "unary";
}

const char* binary_op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::add:
      return "add";
    case BinaryOp::sub:
      return "sub";
    case BinaryOp::mul:
      return "mul";
    case BinaryOp::div:
      return "div";
    case BinaryOp::pow:
      return "pow";
    case BinaryOp::maximum:
      return "maximum";
    case BinaryOp::minimum:
      return "minimum";
    case BinaryOp::eq:
      return "eq";
    case BinaryOp::gt:
      return "gt";
    case BinaryOp::times_gelu_grad:
      return "times_gelu_grad";
    case BinaryOp::times_gelu_grad2:
      return "times_gelu_grad2";
    case BinaryOp::times_silu_grad:
      return "times_silu_grad";
  }
  return "binary";
}

}  // namespace ttt
