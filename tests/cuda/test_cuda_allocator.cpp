// The CUDA caching allocator reuses freed blocks and reports current and peak bytes.
#include <gtest/gtest.h>

#include "core/allocator.h"
#include "core/error.h"
#include "core/tensor.h"

namespace ttt {
namespace {

TEST(CudaAllocator, ReusesFreedBlocksAndTracksPeak) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU visible: allocator test skipped";
  cuda::reset_peak_memory();
  const AllocatorStats before = cuda::allocator_stats();
  {
    Tensor a = empty({1 << 20});  // host tensor: not counted
    Tensor g = empty({1 << 20}, DType::f32, Device::cuda(0));
    AllocatorStats during = cuda::allocator_stats();
    EXPECT_GE(during.current_bytes, before.current_bytes + (4u << 20));
    EXPECT_GE(during.peak_bytes, during.current_bytes);
  }
  const AllocatorStats after_free = cuda::allocator_stats();
  EXPECT_EQ(after_free.current_bytes, before.current_bytes);
  const size_t reserved = after_free.reserved_bytes;
  {
    Tensor again = empty({1 << 20}, DType::f32, Device::cuda(0));  // same size: served from the cache
    AllocatorStats s = cuda::allocator_stats();
    EXPECT_EQ(s.reserved_bytes, reserved);
    EXPECT_EQ(s.num_cache_hits, after_free.num_cache_hits + 1);
  }
  cuda::empty_cache();
  EXPECT_LT(cuda::allocator_stats().reserved_bytes, reserved);
}

TEST(CudaAllocator, OutOfMemoryIsAClearError) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU visible: allocator test skipped";
  try {
    Tensor huge = empty({int64_t{1} << 40}, DType::f32, Device::cuda(0));  // 4 TiB
    FAIL() << "expected out of memory";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("out of memory"), std::string::npos) << msg;
    EXPECT_NE(msg.find("in use"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace ttt
