// The CUDA runtime side of the backend: device discovery, the stream and cuBLAS handle, host <->
// device copies, error reporting, and the caching allocator.
#include <map>
#include <mutex>
#include <unordered_map>

#include "core/allocator.h"
#include "core/backend.h"
#include "core/cuda/cuda_check.h"
#include "core/error.h"

namespace ttt {

bool cuda_available() {
  static const bool available = [] {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
  }();
  return available;
}

int cuda_device_count() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

namespace cuda {

void throw_cuda_error(const char* call, cudaError_t status, const char* file, int line) {
  std::string hint;
  if (status == cudaErrorMemoryAllocation)
    hint = " (hint: lower the batch size or sequence length)";
  else if (status == cudaErrorNoDevice || status == cudaErrorInsufficientDriver)
    hint = " (hint: no usable GPU; use device: cpu)";
  else if (status == cudaErrorIllegalAddress || status == cudaErrorLaunchFailure)
    hint = " (hint: a kernel read or wrote out of bounds; run under compute-sanitizer)";
  fail(call, cat_str("CUDA error ", cudaGetErrorName(status), ": ", cudaGetErrorString(status), " at ", file, ":", line, hint));
}

void throw_cublas_error(const char* call, cublasStatus_t status, const char* file, int line) {
  fail(call, cat_str("cuBLAS error ", cublasGetStatusName(status), ": ", cublasGetStatusString(status), " at ", file, ":", line));
}

// The default stream, where every op runs in order; while a CUDA graph is being captured
// (core/cuda_graph.h), the graph's own stream (a capture cannot run on the default stream). That
// stream is a blocking one: work on it and work on the default stream wait for each other.
thread_local cudaStream_t g_capture_stream = nullptr;
cudaStream_t current_stream() { return g_capture_stream; }
bool capturing() { return g_capture_stream != nullptr; }
void set_capture_stream(cudaStream_t stream) {
  g_capture_stream = stream;
  TTT_CUBLAS_CHECK(cublasSetStream(cublas_handle(), stream));
}

cublasHandle_t cublas_handle() {
  static cublasHandle_t handle = [] {
    cublasHandle_t h;
    TTT_CUBLAS_CHECK(cublasCreate(&h));
    TTT_CUBLAS_CHECK(cublasSetStream(h, current_stream()));
    return h;
  }();
  return handle;
}

void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) {
  cudaMemcpyKind kind = cudaMemcpyDefault;  // unified addressing tells the directions apart
  TTT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, current_stream()));
  // A host buffer may be read or reused right after: wait for a copy to or from the host. A copy
  // between device buffers is ordered with the kernels around it on the stream: no wait.
  if (dst_dev.is_cpu() || src_dev.is_cpu()) TTT_CUDA_CHECK(cudaStreamSynchronize(current_stream()));
}

void synchronize() { TTT_CUDA_CHECK(cudaStreamSynchronize(current_stream())); }

void* event_create() {
  cudaEvent_t e = nullptr;
  TTT_CUDA_CHECK(cudaEventCreate(&e));
  return e;
}

void event_record(void* event) noexcept { cudaEventRecord(static_cast<cudaEvent_t>(event), current_stream()); }

float event_elapsed_ms(void* start, void* end) {
  TTT_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(end)));
  float ms = 0;
  TTT_CUDA_CHECK(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start), static_cast<cudaEvent_t>(end)));
  return ms;
}

void allow_dynamic_shared_memory(const void* kernel, size_t bytes, const char* what) {
  if (bytes <= (48 << 10)) return;
  static std::mutex mutex;
  static std::map<std::pair<const void*, int>, size_t> allowed;  // (kernel, device) -> bytes asked for
  int device = 0;
  TTT_CUDA_CHECK(cudaGetDevice(&device));
  std::lock_guard<std::mutex> lock(mutex);
  size_t& done = allowed[{kernel, device}];
  if (bytes <= done) return;
  cudaFuncAttributes attributes{};
  TTT_CUDA_CHECK(cudaFuncGetAttributes(&attributes, kernel));
  int limit = 0;
  TTT_CUDA_CHECK(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  TTT_CHECK(bytes + attributes.sharedSizeBytes <= static_cast<size_t>(limit), what, "needs ", bytes, " + ",
            attributes.sharedSizeBytes, " bytes of shared memory per block, more than GPU ", device, "'s ", limit);
  TTT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
  done = bytes;
}

// ---- the caching allocator ----
// Freed blocks go into a size-ordered free list and serve later requests of a similar size.
// All work runs on one stream, in order, so a block freed by the host can be handed out again at
// once: any kernel that still reads it was queued before the kernels of its next owner.
//
// A CUDA graph breaks that rule: it replays, later, kernels that read and write the blocks they
// had at capture. So a block first handed out during a capture belongs to that graph's private
// pool for good: when freed it goes back to that pool's free list, which serves only allocations
// made while capturing (the graph's own), never the rest of the program.
namespace {

struct Block {
  size_t size = 0;
  int pool = 0;  // 0: the shared cache; k > 0: the private pool of a graph
};

struct Pool {
  std::mutex mutex;
  std::multimap<size_t, void*> free_blocks;                            // the shared cache: size -> block
  std::unordered_map<int, std::multimap<size_t, void*>> private_free;  // per private pool
  std::unordered_map<void*, Block> live;                               // block -> its size and pool
  int capturing_pool = 0;                                              // the pool allocations come from now
  int next_pool = 1;
  AllocatorStats stats;
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: tensors may be freed during static teardown
  return *p;
}

size_t round_size(size_t bytes) {
  const size_t small = 512, large = size_t{2} << 20;
  return bytes < (size_t{1} << 20) ? (bytes + small - 1) / small * small : (bytes + large - 1) / large * large;
}

void release_cached(Pool& p) {
  for (auto& [size, ptr] : p.free_blocks) {
    cudaFree(ptr);
    p.stats.reserved_bytes -= size;
  }
  p.free_blocks.clear();
}

}  // namespace

void* device_alloc(size_t bytes, int device) {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  const size_t size = round_size(bytes);
  ++p.stats.num_allocs;
  void* ptr = nullptr;
  // Reuse the smallest cached block that fits without wasting more than half of it.
  auto& free_blocks = p.capturing_pool == 0 ? p.free_blocks : p.private_free[p.capturing_pool];
  auto it = free_blocks.lower_bound(size);
  if (it != free_blocks.end() && it->first <= 2 * size) {
    ptr = it->second;
    const size_t got = it->first;
    free_blocks.erase(it);
    p.live[ptr] = Block{got, p.capturing_pool};
    p.stats.current_bytes += got;
    ++p.stats.num_cache_hits;
  } else {
    TTT_CUDA_CHECK(cudaSetDevice(device));
    cudaError_t st = cudaMalloc(&ptr, size);
    if (st == cudaErrorMemoryAllocation && p.capturing_pool == 0) {  // return the cache to the driver, try again
      cudaGetLastError();
      release_cached(p);
      st = cudaMalloc(&ptr, size);
    }
    if (st != cudaSuccess) {
      cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      const double mib = 1024.0 * 1024.0;
      fail("cuda allocator",
           cat_str("out of memory allocating ", bytes / mib, " MiB on cuda:", device, ": ", p.stats.current_bytes / mib,
                   " MiB in use by tensors, ", p.stats.reserved_bytes / mib, " MiB reserved, peak ", p.stats.peak_bytes / mib,
                   " MiB; the device reports ", free_b / mib, " MiB free of ", total_b / mib, " MiB (", cudaGetErrorString(st),
                   "). Hint: lower the batch size or sequence length."));
    }
    p.live[ptr] = Block{size, p.capturing_pool};
    p.stats.current_bytes += size;
    p.stats.reserved_bytes += size;
  }
  p.stats.peak_bytes = std::max(p.stats.peak_bytes, p.stats.current_bytes);
  if (poison_fresh_memory()) TTT_CUDA_CHECK(cudaMemsetAsync(ptr, 0xFF, bytes, current_stream()));  // in stream order
  return ptr;
}

void device_free(void* ptr) {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  auto it = p.live.find(ptr);
  if (it == p.live.end()) return;
  const Block b = it->second;
  p.stats.current_bytes -= b.size;
  (b.pool == 0 ? p.free_blocks : p.private_free[b.pool]).emplace(b.size, ptr);
  p.live.erase(it);
}

void begin_private_pool() {
  std::lock_guard<std::mutex> lock(pool().mutex);
  TTT_CHECK(pool().capturing_pool == 0, "cuda allocator", "a private pool is already active (captures do not nest)");
  pool().capturing_pool = pool().next_pool++;
}

void end_private_pool() {
  std::lock_guard<std::mutex> lock(pool().mutex);
  pool().capturing_pool = 0;
}

AllocatorStats allocator_stats() {
  std::lock_guard<std::mutex> lock(pool().mutex);
  return pool().stats;
}

void reset_peak_memory() {
  std::lock_guard<std::mutex> lock(pool().mutex);
  pool().stats.peak_bytes = pool().stats.current_bytes;
}

void empty_cache() {
  std::lock_guard<std::mutex> lock(pool().mutex);
  release_cached(pool());
}

size_t device_total_bytes(int device) {
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return prop.totalGlobalMem;
}

}  // namespace cuda
}  // namespace ttt
