// Declares the two backends' kernel entry points (see backend_interface.inc for the list).
#pragma once
#include <cstdint>
#include <vector>

#include "core/kernel_args.h"
#include "core/op_kinds.h"
#include "core/tensor.h"

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
// CUDA events for the profiler (core/profile.cpp); event_elapsed_ms waits for `end`.
void* event_create();
void event_record(void* event) noexcept;
float event_elapsed_ms(void* start, void* end);
}  // namespace ttt::cuda
