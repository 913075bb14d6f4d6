// The element loops of the CUDA kernels that stream through memory (core/cuda/elementwise.cu,
// layout.cu): a grid-stride loop, its index type chosen per launch (64-bit arithmetic, division
// above all, costs the GPU many instructions per element, so launches whose every index fits use
// 32 bits), and the 16-byte test for loading P elements at once.
#pragma once
#include <cstdint>

// for (Index i = this thread's first element; i < n; i += every thread of the grid)
#define GRID_STRIDE_LOOP_AS(Index, i, n) \
  for (Index i = Index(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += Index(blockDim.x) * gridDim.x)
#define GRID_STRIDE_LOOP(i, n) GRID_STRIDE_LOOP_AS(int64_t, i, n)
#define GRID_STRIDE_LOOP_32(i, n) GRID_STRIDE_LOOP_AS(uint32_t, i, n)

namespace ttt::cuda {

constexpr int64_t kMax32 = int64_t(1) << 31;  // sizes below this take the 32-bit loops

// 16-byte aligned: a thread may load and store 16 bytes (4 floats, 8 bf16) at once there.
inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace ttt::cuda
