// Loads and stores for float kernels templated on their element type T (float or bf16): a value is
// loaded as f32 (bf16 widened exactly), computed on in f32, and stored rounded once to T. The
// kernels listed in core/widen_bf16.h's takes_bf16 are written this way.
#pragma once
#include "core/dtype.h"
#include "core/half.h"

namespace ttt::cuda {

__device__ __forceinline__ float load_f32(float v) { return v; }
__device__ __forceinline__ float load_f32(bf16 v) { return v.to_float(); }
template <class T>
__device__ __forceinline__ T store_as(float v) {
  return T(v);  // bf16: round to nearest even
}

// fn(float{}) or fn(bf16{}) for a float tensor's dtype (host side of the launchers).
template <class Fn>
void dispatch_f32_bf16(DType t, Fn&& fn) {
  if (t == DType::bf16)
    fn(bf16{});
  else
    fn(float{});
}

}  // namespace ttt::cuda
