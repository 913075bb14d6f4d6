// Status checks for the CUDA runtime and cuBLAS: every call is checked, and a failure names the
// call, the file:line and a hint the user can act on.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

namespace ttt::cuda {

[[noreturn]] void throw_cuda_error(const char* call, cudaError_t status, const char* file, int line);
[[noreturn]] void throw_cublas_error(const char* call, cublasStatus_t status, const char* file, int line);

cudaStream_t current_stream();  // all kernels and copies run on this stream, in order
// Points current_stream() (and cuBLAS) at `stream`, nullptr for the default stream again: what a
// CUDA graph capture does for its duration (core/cuda/graph.cpp).
void set_capture_stream(cudaStream_t stream);
cublasHandle_t cublas_handle();  // bound to current_stream()

// Lets `kernel` take `bytes` of dynamic shared memory on the current device (above 48 KB a kernel
// must ask; the attribute belongs to the kernel on one device): asked once per kernel, device and
// larger size; a size the device cannot give is an error that says so.
void allow_dynamic_shared_memory(const void* kernel, size_t bytes, const char* what);

// Threads per block and blocks for an n-element grid-stride loop.
constexpr int kBlock = 256;
inline unsigned grid_for(int64_t n) {
  int64_t blocks = (n + kBlock - 1) / kBlock;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 65535 * 16 ? 65535 * 16 : blocks));
}

}  // namespace ttt::cuda

#define TTT_CUDA_CHECK(call)                                                                       \
  do {                                                                                             \
    cudaError_t status_ = (call);                                                                  \
    if (status_ != cudaSuccess) ::ttt::cuda::throw_cuda_error(#call, status_, __FILE__, __LINE__); \
  } while (0)

#define TTT_CUBLAS_CHECK(call)                                                                                 \
  do {                                                                                                         \
    cublasStatus_t status_ = (call);                                                                           \
    if (status_ != CUBLAS_STATUS_SUCCESS) ::ttt::cuda::throw_cublas_error(#call, status_, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: reports bad launch configurations right away.
#define TTT_CUDA_CHECK_LAUNCH() TTT_CUDA_CHECK(cudaGetLastError())
