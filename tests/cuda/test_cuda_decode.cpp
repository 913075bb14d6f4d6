// The streaming step's device ops on CUDA give the CPU's numbers (tests/core/test_streaming_ops.cpp
// checks the CPU against attention): one query against a KV cache at head dims 8 to 256, f32 and
// bf16, part-filled and full rings; the cache write, the index arithmetic, the TTT state's commit
// and products of a few rows.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/ops.h"
#include "core/compute.h"
#include "core/rng.h"
#include "tests/cuda/skip_without_gpu.h"

namespace ttt {
namespace {

const Device kGpu = Device::cuda(0);

double max_rel_diff(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double diff = 0, scale = 0;
  for (size_t i = 0; i < x.size(); ++i) diff = std::max(diff, std::abs(x[i] - y[i])), scale = std::max(scale, std::abs(x[i]));
  return diff / scale;
}

TEST(CudaDecode, AttentionMatchesTheCpu) {
  SKIP_WITHOUT_GPU();
  Generator gen(9);
  for (int64_t d : {8, 64, 100, 128, 256})
    for (DType dtype : {DType::f32, DType::bf16})
      for (int64_t p : {0, 37, 300}) {
        const int64_t B = 2, H = 4, slots = 200;
        const Tensor q = cast(randn({B, H, 1, d}, gen), dtype), k = cast(randn({B, H, slots, d}, gen), dtype),
                     v = cast(randn({B, H, slots, d}, gen), dtype);
        const Tensor pos = from_vector({static_cast<double>(p)}, {1}, DType::i64);
        const double scale = 1.0 / std::sqrt(static_cast<double>(d));
        const Tensor want = compute::attention_decode(q, k, v, pos, scale);
        const Tensor got =
            compute::attention_decode(to_device(q, kGpu), to_device(k, kGpu), to_device(v, kGpu), to_device(pos, kGpu), scale);
        EXPECT_LT(max_rel_diff(want, got), dtype == DType::f32 ? 1e-5 : 1e-2) << "d " << d << ", position " << p;
      }
}

TEST(CudaDecode, CacheWriteAndIndexStepMatchTheCpu) {
  SKIP_WITHOUT_GPU();
  Generator gen(2);
  const Tensor cpu_cache = randn({3, 7, 16}, gen), rows = randn({3, 1, 16}, gen);
  const Tensor gpu_cache = to_device(cpu_cache, kGpu);
  const Tensor pos = from_vector({12.0}, {1}, DType::i64);
  compute::cache_write(cpu_cache, rows, pos);
  compute::cache_write(gpu_cache, to_device(rows, kGpu), to_device(pos, kGpu));
  EXPECT_EQ(gpu_cache.to_vector<float>(), cpu_cache.to_vector<float>());
  const Tensor x = from_vector({0, 5, 17, 64}, {4}, DType::i64);
  EXPECT_EQ(compute::index_step(to_device(x, kGpu), 3, 16).to_vector<int64_t>(),
            compute::index_step(x, 3, 16).to_vector<int64_t>());
}

TEST(CudaDecode, TttStreamCommitMatchesTheCpu) {
  SKIP_WITHOUT_GPU();
  Generator gen(6);
  const Tensor w0 = randn({2, 8, 512, 128}, gen), x = randn({2, 8, 16, 512}, gen), y = randn({2, 8, 16, 128}, gen);
  for (double carry : {0.0, 0.25}) {
    const Tensor cpu = clone_data(w0), gpu = to_device(w0, kGpu);
    compute::ttt_stream_commit(cpu, x, y, from_vector({carry}, {1}));
    compute::ttt_stream_commit(gpu, to_device(x, kGpu), to_device(y, kGpu), to_device(from_vector({carry}, {1}), kGpu));
    EXPECT_LT(max_rel_diff(cpu, gpu), 1e-6) << "carry " << carry;
  }
}

// Products of at most 4 rows: x W^T takes core/cuda/small_matmul.cu (packed and unpacked loads),
// x W of one f32 row cuBLAS's batched matrix-vector product; one weight for every batch entry or
// one each, f32 and bf16.
TEST(CudaDecode, SmallRowProductsMatchTheCpu) {
  SKIP_WITHOUT_GPU();
  Generator gen(8);
  for (DType dtype : {DType::f32, DType::bf16})
    for (int64_t m : {1, 3, 4})
      for (int64_t k : {7, 64, 1000})
        for (int64_t n : {5, 40, 300})
          for (bool trans_b : {false, true})
            for (bool one_weight : {false, true}) {
              const Tensor a = cast(randn({2, 3, m, k}, gen), dtype);
              const Shape wb = trans_b ? Shape{n, k} : Shape{k, n};
              Shape batched = {2, 3};
              batched.insert(batched.end(), wb.begin(), wb.end());
              const Tensor b = cast(randn(one_weight ? wb : batched, gen), dtype);
              const Tensor want = matmul(cast(a, DType::f32), cast(b, DType::f32), false, trans_b);
              const Tensor got = matmul(to_device(a, kGpu), to_device(b, kGpu), false, trans_b);
              EXPECT_LT(max_rel_diff(want, got), dtype == DType::f32 ? 1e-5 : 1e-2)
                  << dtype_name(dtype) << " m " << m << " k " << k << " n " << n << (trans_b ? " x W^T" : " x W")
                  << (one_weight ? ", one weight" : "");
            }
}

}  // namespace
}  // namespace ttt
