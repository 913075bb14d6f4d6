// Calls fn(T{}) with T the C++ type of a dtype, so one templated loop or kernel launch serves
// every dtype. Host code, shared by the CPU kernels and the CUDA launchers.
#pragma once
#include <cstdint>

#include "core/dtype.h"
#include "core/half.h"

namespace ttt {

template <class Fn>
void dispatch_any(DType t, Fn&& fn) {
  switch (t) {
    case DType::f32:
      fn(float{});
      break;
    case DType::f64:
      fn(double{});
      break;
    case DType::i32:
      fn(int32_t{});
      break;
    case DType::i64:
      fn(int64_t{});
      break;
    case DType::bf16:
      fn(bf16{});
      break;
  }
}

// Layout kernels only move bytes: pick an unsigned type of the element's size.
template <class Fn>
void dispatch_bytes(DType t, Fn&& fn) {
  if (dtype_size(t) == 2)
    fn(uint16_t{});
  else if (dtype_size(t) == 4)
    fn(uint32_t{});
  else
    fn(uint64_t{});
}

}  // namespace ttt
