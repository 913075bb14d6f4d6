// Element types a Tensor can hold, and their sizes and names.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace ttt {

enum class DType { f32, f64, i32, i64 };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i32: return 4;
    case DType::i64: return 8;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
  }
  return "?";
}

inline bool is_floating(DType t) { return t == DType::f32 || t == DType::f64; }
inline bool is_integral(DType t) { return t == DType::i32 || t == DType::i64; }

}  // namespace ttt
