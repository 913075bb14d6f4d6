// What the files that define compute's ops share (core/compute.cpp, core/compute_streaming.cpp):
// the macro that runs a backend kernel, and the argument checks. Not for use outside compute.
#pragma once
#include "core/backend.h"
#include "core/error.h"
#include "core/profile.h"
#include "core/tensor.h"
#include "core/widen_bf16.h"

namespace ttt::compute::detail {

// Runs a backend kernel on the device of `t`; meta tensors skip the kernel entirely. Kernels are
// timed under `label` when TTT_PROFILE is set (core/profile.h). bf16 tensors reach a kernel as
// they are when it takes them, else through f32 copies (core/widen_bf16.h).
#define TTT_RUN_KERNEL_AS(label, t, fn, ...)                                        \
  do {                                                                              \
    profile::KernelTimer kernel_timer((label), (t).device());                       \
    if ((t).device().is_cpu()) {                                                    \
      if constexpr (cpu::fn##_dtypes.cpu_bf16)                                      \
        cpu::fn(__VA_ARGS__);                                                       \
      else                                                                          \
        widen::run([&](const auto&... args_) { cpu::fn(args_...); }, __VA_ARGS__);  \
    } else if ((t).device().is_cuda()) {                                            \
      if constexpr (cpu::fn##_dtypes.cuda_bf16)                                     \
        cuda::fn(__VA_ARGS__);                                                      \
      else                                                                          \
        widen::run([&](const auto&... args_) { cuda::fn(args_...); }, __VA_ARGS__); \
    }                                                                               \
  } while (0)
#define TTT_RUN_KERNEL(t, fn, ...) TTT_RUN_KERNEL_AS(#fn, t, fn, __VA_ARGS__)

inline void check_defined(const char* op, const Tensor& t, const char* what) {
  TTT_CHECK(t.defined(), op, what, " is an undefined tensor");
}

// Float kernels: f32, bf16 and f64 on the CPU; f32 and bf16 on CUDA.
inline void check_float(const char* op, const Tensor& t) {
  check_defined(op, t, "input");
  TTT_CHECK(is_floating(t.dtype()), op, "expected a floating tensor (f32/bf16/f64), got ", t.describe());
  TTT_CHECK(!(t.device().is_cuda() && t.dtype() == DType::f64), op, "CUDA kernels take f32 or bf16, got ", t.describe(),
            " (convert with to_dtype or compute on the cpu)");
}

// The dtype of per-row statistics (norm means, softmax log-sum-exp) of x: f32 for bf16 inputs.
inline DType stat_dtype(const Tensor& x) { return x.dtype() == DType::bf16 ? DType::f32 : x.dtype(); }

inline void check_same(const char* op, const Tensor& a, const Tensor& b) {
  check_defined(op, a, "first input");
  check_defined(op, b, "second input");
  TTT_CHECK(a.device() == b.device(), op, "inputs are on different devices: ", a.describe(), " and ", b.describe(),
            " (move one with to_device)");
  TTT_CHECK(a.dtype() == b.dtype(), op, "inputs have different dtypes: ", a.describe(), " and ", b.describe());
}

inline void check_index(const char* op, const Tensor& ids, const Tensor& like) {
  check_defined(op, ids, "index tensor");
  TTT_CHECK(is_integral(ids.dtype()), op, "index tensor must be i32 or i64, got ", ids.describe());
  TTT_CHECK(ids.device() == like.device(), op, "index tensor ", ids.describe(), " is not on ", like.device().str(), " with ",
            like.describe());
}

inline bool skip_kernel(const Tensor& out) { return out.device().is_meta() || out.numel() == 0; }

}  // namespace ttt::compute::detail
