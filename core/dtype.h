// Element types a Tensor can hold, and their sizes and names. bf16 (bfloat16: f32's 8-bit exponent,
// 7-bit mantissa) is a storage format: kernels load it into f32, compute in f32 and round once on
// the store (core/half.h's ttt::bf16). Statistics of bf16 inputs (norm means, softmax lse) are f32.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace ttt {

enum class DType { f32, f64, i32, i64, bf16 };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32:
      return 4;
    case DType::f64:
      return 8;
    case DType::i32:
      return 4;
    case DType::i64:
      return 8;
    case DType::bf16:
      return 2;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32:
      return "f32";
    case DType::f64:
      return "f64";
    case DType::i32:
      return "i32";
    case DType::i64:
      return "i64";
    case DType::bf16:
      return "bf16";
  }
  return "?";
}

inline bool is_floating(DType t) { return t == DType::f32 || t == DType::f64 || t == DType::bf16; }
inline bool is_integral(DType t) { return t == DType::i32 || t == DType::i64; }

}  // namespace ttt
