// Calls fn(T{}) with T the C++ type of a dtype, so one templated loop serves every dtype.
#pragma once
#include <cstdint>

#include "core/dtype.h"
#include "core/error.h"

namespace ttt::cpu {

template <class Fn>
void dispatch_float(DType t, Fn&& fn) {
  if (t == DType::f32) fn(float{});
  else if (t == DType::f64) fn(double{});
  else fail("cpu kernel", std::string("expected f32 or f64, got ") + dtype_name(t));
}

template <class Fn>
void dispatch_any(DType t, Fn&& fn) {
  switch (t) {
    case DType::f32: fn(float{}); break;
    case DType::f64: fn(double{}); break;
    case DType::i32: fn(int32_t{}); break;
    case DType::i64: fn(int64_t{}); break;
  }
}

// Layout kernels only move bytes: pick an unsigned type of the element's size.
template <class Fn>
void dispatch_bytes(DType t, Fn&& fn) {
  if (dtype_size(t) == 4) fn(uint32_t{});
  else fn(uint64_t{});
}

// Reads element i of an index tensor (i32 or i64) as int64.
inline int64_t index_at(const void* p, DType t, int64_t i) {
  return t == DType::i32 ? static_cast<const int32_t*>(p)[i] : static_cast<const int64_t*>(p)[i];
}

}  // namespace ttt::cpu
