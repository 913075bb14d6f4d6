// Device memory. The host uses aligned malloc. CUDA memory goes through a caching allocator:
// freed blocks are kept in size-bucketed free lists and handed out again, because cudaMalloc /
// cudaFree synchronise the device and cost tens of microseconds each.
#pragma once
#include <cstddef>

namespace ttt {

struct AllocatorStats {
  size_t current_bytes = 0;   // bytes handed out and not yet freed (rounded block sizes)
  size_t peak_bytes = 0;      // maximum of current_bytes since start or reset_peak()
  size_t reserved_bytes = 0;  // bytes obtained from cudaMalloc (in use + cached)
  size_t num_allocs = 0;      // allocation requests served
  size_t num_cache_hits = 0;  // requests served from a cached block
};

void* cpu_alloc(size_t bytes);
void cpu_free(void* p);
// TTT_POISON_EMPTY=1 in the environment: fresh memory (host allocations, and every block the CUDA
// allocator hands out) is filled with 0xFF bytes, NaN in f32/f64 and -1 in integers, so that a
// kernel reading memory nothing wrote fails its test instead of reading zeros or stale data.
bool poison_fresh_memory();

// The meta device allocates nothing, but counts what its tensors would take (current and peak
// bytes), so a run can be sized before it allocates: build the model and run a training step on
// meta, read the peak (train/memory_estimate.h).
AllocatorStats meta_memory_stats();
void reset_meta_peak();

namespace cuda {
void* device_alloc(size_t bytes, int device);  // throws ttt::Error with the figures on OOM
void device_free(void* p);
AllocatorStats allocator_stats();
void reset_peak_memory();
void empty_cache();                     // returns every cached (free) block to the driver
size_t device_total_bytes(int device);  // the GPU's memory (0 without CUDA)
// While a private pool is active (a CUDA graph's capture, core/cuda_graph.h), allocations come
// from it, and its blocks, once freed, serve only later captures into the same pool.
void begin_private_pool();
void end_private_pool();
}  // namespace cuda

}  // namespace ttt
