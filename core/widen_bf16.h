// bf16 tensors through f32 kernels. Most kernels are written for f32 (and f64 on the CPU). A kernel
// called with bf16 tensors that has no bf16 path of its own runs on f32 copies: every bf16 tensor
// argument is widened to f32 before the call and the f32 result rounded back into it after.
// Inputs come back unchanged (bf16 -> f32 -> bf16 changes no bit) and outputs are rounded once:
// the same values as a kernel that loads bf16, computes in f32 and stores bf16. The CPU runs
// every float kernel this way (it is the reference); CUDA only the kernels whose dtypes line in
// core/backend_interface.inc says no native bf16. Used by core/compute.cpp's TTT_RUN_KERNEL only.
#pragma once
#include <type_traits>
#include <utility>
#include <vector>

#include "core/backend.h"
#include "core/tensor.h"

namespace ttt::widen {

inline bool is_bf16(const Tensor& t) { return t.defined() && t.dtype() == DType::bf16; }
template <class A>
bool is_bf16(const A&) {
  return false;
}

// Hands the kernel f32 copies of the bf16 tensors and rounds them back when done.
class Widened {
 public:
  template <class A>
  const A& arg(const A& a) {
    return a;
  }
  Tensor arg(const Tensor& t) {
    if (!is_bf16(t)) return t;
    Tensor wide = to_dtype(t, DType::f32);
    pairs_.emplace_back(t, wide);
    return wide;
  }
  void narrow() {
    for (auto& [narrow, wide] : pairs_) {
      if (wide.numel() == 0 || wide.device().is_meta()) continue;
      if (wide.device().is_cpu())
        cpu::cast(wide, narrow);
      else
        cuda::cast(wide, narrow);
    }
  }

 private:
  std::vector<std::pair<Tensor, Tensor>> pairs_;
};

// kernel(args...), through f32 copies when a bf16 tensor is among args.
template <class Kernel, class... Args>
void run(Kernel&& kernel, const Args&... args) {
  if (!(is_bf16(args) || ...)) {
    kernel(args...);
    return;
  }
  Widened w;
  kernel(w.arg(args)...);
  w.narrow();
}

}  // namespace ttt::widen
