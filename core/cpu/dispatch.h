// CPU dispatch helpers: float-only dispatch and index reads (dispatch_any/bytes: core/dtype_dispatch.h).
#pragma once
#include <cstdint>

#include "core/dtype.h"
#include "core/dtype_dispatch.h"
#include "core/error.h"

namespace ttt::cpu {

template <class Fn>
void dispatch_float(DType t, Fn&& fn) {
  if (t == DType::f32)
    fn(float{});
  else if (t == DType::f64)
    fn(double{});
  else
    fail("cpu kernel", std::string("expected f32 or f64, got ") + dtype_name(t));
}

// Reads element i of an index tensor (i32 or i64) as int64.
inline int64_t index_at(const void* p, DType t, int64_t i) {
  return t == DType::i32 ? static_cast<const int32_t*>(p)[i] : static_cast<const int64_t*>(p)[i];
}

}  // namespace ttt::cpu
