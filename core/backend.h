// Declares the two backends' kernel entry points (see backend_interface.inc for the list).
#pragma once
#include <cstdint>
#include <vector>

#include "core/kernel_args.h"
#include "core/op_kinds.h"
#include "core/tensor.h"
#include "core/ttt_step_args.h"

namespace ttt {
// Which dtypes a kernel takes as they are (declared next to each kernel in backend_interface.inc):
// bf16 natively on the CPU and on CUDA; a kernel without native bf16 runs on f32 copies.
struct KernelDtypes {
  bool cpu_bf16 = false;
  bool cuda_bf16 = false;
};

}  // namespace ttt

// <kernel>_dtypes: a constant beside the kernel's declaration (both namespaces get the same one).
#define TTT_KERNEL_DTYPES(kernel, cpu_native_bf16, cuda_native_bf16) \
  inline constexpr ::ttt::KernelDtypes kernel##_dtypes{cpu_native_bf16, cuda_native_bf16};

namespace ttt::cpu {
#include "core/backend_interface.inc"
}  // namespace ttt::cpu

namespace ttt::cuda {
#include "core/backend_interface.inc"
// Copies between host and device (blocking), and device to device.
void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes);
void synchronize();
// True while a CUDA graph is being captured (core/cuda_graph.h): no host copies or waits then.
bool capturing();
// Flash attention (core/cuda/flash_attention.cu and flash_attention_f32.cu; CUDA only, bf16 or f32
// q, k, v [n, S, 64 or 128]): out and lse [n, S] (f32) of softmax(mask.scale q k^T, masked) v;
// backward fills dq, dk, dv, using d_rows [n, S] (f32) as scratch. f32 products are rounded as
// `precision` says; bf16 ones are bf16.
void flash_attention(const Tensor& q, const Tensor& k, const Tensor& v, const SoftmaxArgs& mask, MatmulPrecision precision,
                     const Tensor& out, const Tensor& lse);
void flash_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                              const Tensor& grad, const SoftmaxArgs& mask, MatmulPrecision precision, const Tensor& dq,
                              const Tensor& dk, const Tensor& dv, const Tensor& d_rows);
// CUDA events for the profiler (core/profile.cpp); event_elapsed_ms waits for `end`.
void* event_create();
void event_record(void* event) noexcept;
float event_elapsed_ms(void* start, void* end);
}  // namespace ttt::cuda
