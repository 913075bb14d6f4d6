#include "core/storage.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "core/allocator.h"
#include "core/error.h"

namespace ttt {

// CI runs the CPU suites once with TTT_POISON_EMPTY=1 (.ci/run).
bool poison_fresh_memory() {
  static const bool poison = [] {
    const char* v = std::getenv("TTT_POISON_EMPTY");
    return v != nullptr && v[0] == '1';
  }();
  return poison;
}

void* cpu_alloc(size_t bytes) {
  if (bytes == 0) return nullptr;
  size_t rounded = (bytes + 63) / 64 * 64;  // aligned_alloc needs a multiple of the alignment
  void* p = std::aligned_alloc(64, rounded);
  TTT_CHECK(p != nullptr, "cpu_alloc", "out of host memory allocating ", bytes, " bytes");
  if (poison_fresh_memory()) std::memset(p, 0xFF, rounded);
  return p;
}

void cpu_free(void* p) { std::free(p); }

namespace {
std::atomic<size_t> g_meta_current{0}, g_meta_peak{0};
}

AllocatorStats meta_memory_stats() {
  AllocatorStats s;
  s.current_bytes = g_meta_current.load();
  s.peak_bytes = g_meta_peak.load();
  return s;
}

void reset_meta_peak() { g_meta_peak.store(g_meta_current.load()); }

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  if (device.is_cpu()) {
    data_ = cpu_alloc(bytes);
  } else if (device.is_cuda()) {
    data_ = bytes ? cuda::device_alloc(bytes, device.index) : nullptr;
  } else {  // meta: nothing is allocated, only counted
    // saturating: a hostile size must read as "too much", never wrap to a small count
    size_t now = g_meta_current.load();
    size_t next = 0;
    do {
      next = now > SIZE_MAX - bytes ? SIZE_MAX : now + bytes;
    } while (!g_meta_current.compare_exchange_weak(now, next));
    now = next;
    size_t peak = g_meta_peak.load();
    while (now > peak && !g_meta_peak.compare_exchange_weak(peak, now)) {}
  }
}

Storage::~Storage() {
  if (device_.is_meta()) {
    size_t now = g_meta_current.load();
    while (!g_meta_current.compare_exchange_weak(now, now > bytes_ ? now - bytes_ : 0)) {}
  }
  if (!data_) return;
  if (device_.is_cpu())
    cpu_free(data_);
  else if (device_.is_cuda())
    cuda::device_free(data_);
}

}  // namespace ttt
