// The streaming step's device ops on CUDA give the CPU's numbers (tests/core/test_streaming_ops.cpp
// checks the CPU against attention): one query against a KV cache at head dims 8 to 256, f32 and
// bf16, part-filled and full rings; the cache write, the index arithmetic, the fused TTT step
// and products of a few rows.
#include <gtest/gtest.h>

#include <cmath>
#include <utility>
#include <vector>

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
  // (head dims 64 and 128 take the packed kernel; a ring of 3000 slots, full or not, is Moshi's
  // context: many keys a warp)
  const std::vector<std::pair<int64_t, int64_t>> slots_and_positions = {
      {200, 0}, {200, 37}, {200, 300}, {3000, 2100}, {3000, 4500}};
  for (int64_t d : {8, 64, 100, 128, 256})
    for (DType dtype : {DType::f32, DType::bf16})
      for (auto [slots, p] : slots_and_positions) {
        const int64_t B = 2, H = 4;
        const Tensor q = cast(randn({B, H, 1, d}, gen), dtype), k = cast(randn({B, H, slots, d}, gen), dtype),
                     v = cast(randn({B, H, slots, d}, gen), dtype);
        const Tensor pos = from_vector({static_cast<double>(p)}, {1}, DType::i64);
        const double scale = 1.0 / std::sqrt(static_cast<double>(d));
        const Tensor want = compute::attention_decode(q, k, v, pos, scale);
        const Tensor got =
            compute::attention_decode(to_device(q, kGpu), to_device(k, kGpu), to_device(v, kGpu), to_device(pos, kGpu), scale);
        EXPECT_LT(max_rel_diff(want, got), dtype == DType::f32 ? 1e-5 : 1e-2)
            << "d " << d << ", position " << p << " of " << slots;
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

// The fused streaming TTT step on CUDA against the CPU's loops: a TTT-MultiLayer's [128, 512, 512,
// 128] and a small odd-sized inner model, inside a mini-batch and at its last token (the commit).
TEST(CudaDecode, TttStreamStepMatchesTheCpu) {
  SKIP_WITHOUT_GPU();
  Generator gen(6);
  struct Shape_ {
    std::vector<int64_t> dims;
    int64_t b, heads;
  };
  for (const Shape_& k : {Shape_{{128, 512, 512, 128}, 64, 4}, Shape_{{8, 13, 8}, 5, 2}})
    for (int64_t pos : std::vector<int64_t>{5, k.b - 1, 3 * k.b - 1}) {
      const int64_t n = 2 * k.heads, d = k.dims[0], b = k.b;
      TttStepArgs cpu;
      cpu.xq = randn({n, d}, gen), cpu.xk = randn({n, d}, gen), cpu.target = randn({n, d}, gen);
      cpu.eta = rand({n}, gen) * 0.01, cpu.positional = rand({b}, gen);
      cpu.position = from_vector({static_cast<double>(pos)}, {1}, DType::i64);
      cpu.ln_weight = randn({k.heads, d}, gen), cpu.ln_bias = randn({k.heads, d}, gen);
      for (size_t l = 0; l + 1 < k.dims.size(); ++l) {
        const int64_t p = k.dims[l], q = k.dims[l + 1];
        cpu.w0.push_back(randn({n, p, q}, gen) * 0.05), cpu.b0.push_back(randn({n, q}, gen) * 0.05);
        cpu.xs.push_back(randn({n, b, p}, gen)), cpu.ds.push_back(randn({n, b, q}, gen) * 0.01);
      }
      cpu.out = zeros({n, d});
      TttStepArgs gpu = cpu;
      auto move = [&](Tensor& t) { t = to_device(t, kGpu); };
      for (Tensor* t :
           {&gpu.xq, &gpu.xk, &gpu.target, &gpu.eta, &gpu.positional, &gpu.position, &gpu.ln_weight, &gpu.ln_bias, &gpu.out})
        move(*t);
      for (auto* list : {&gpu.w0, &gpu.b0, &gpu.xs, &gpu.ds})
        for (Tensor& t : *list) move(t);
      compute::ttt_stream_step(cpu);
      compute::ttt_stream_step(gpu);
      const std::string where = "dims " + std::to_string(d) + ".., b " + std::to_string(b) + ", position " + std::to_string(pos);
      EXPECT_LT(max_rel_diff(cpu.out, gpu.out), 1e-5) << where;
      for (size_t l = 0; l < cpu.w0.size(); ++l) {
        EXPECT_LT(max_rel_diff(cpu.w0[l], gpu.w0[l]), 1e-5) << where << ", W0 " << l;
        EXPECT_LT(max_rel_diff(cpu.b0[l], gpu.b0[l]), 1e-5) << where << ", b0 " << l;
        EXPECT_LT(max_rel_diff(cpu.xs[l], gpu.xs[l]), 1e-6) << where << ", rows " << l;
        EXPECT_LT(max_rel_diff(cpu.ds[l], gpu.ds[l]), 1e-5) << where << ", steps " << l;
      }
    }
}

// The largest difference of a x op(b) on the GPU from the f32 product on the CPU, relative to its
// largest element; with `accumulate`, the product added into a random C (matmul_accumulate).
double small_rows_product_error(const Tensor& a, const Tensor& b, bool trans_b, bool accumulate, Generator& gen) {
  Tensor want = matmul(cast(a, DType::f32), cast(b, DType::f32), false, trans_b);
  if (!accumulate) return max_rel_diff(want, matmul(to_device(a, kGpu), to_device(b, kGpu), false, trans_b));
  const Tensor c = cast(randn(want.shape(), gen), a.dtype());
  const Tensor got = to_device(c, kGpu);
  compute::matmul_accumulate(to_device(a, kGpu), to_device(b, kGpu), false, trans_b, got);
  return max_rel_diff(add(want, cast(c, DType::f32)), got);
}

// Products of at most 4 rows: x W^T takes core/cuda/small_matmul.cu (packed and unpacked loads),
// x W of one f32 row cuBLAS's batched matrix-vector product; one weight for every batch entry or
// one each, f32 and bf16; written, and added into C (matmul_accumulate, a residual's sum).
TEST(CudaDecode, SmallRowProductsMatchTheCpu) {
  SKIP_WITHOUT_GPU();
  Generator gen(8);
  for (DType dtype : {DType::f32, DType::bf16})
    for (int64_t m : {1, 3, 4})
      for (int64_t k : {7, 64, 1000})
        for (int64_t n : {5, 40, 300})
          for (bool trans_b : {false, true})
            for (bool one_weight : {false, true})
              for (bool accumulate : {false, true}) {
                const Tensor a = cast(randn({2, 3, m, k}, gen), dtype);
                const Shape wb = trans_b ? Shape{n, k} : Shape{k, n};
                Shape batched = {2, 3};
                batched.insert(batched.end(), wb.begin(), wb.end());
                const Tensor b = cast(randn(one_weight ? wb : batched, gen), dtype);
                EXPECT_LT(small_rows_product_error(a, b, trans_b, accumulate, gen), dtype == DType::f32 ? 1e-5 : 1e-2)
                    << dtype_name(dtype) << " m " << m << " k " << k << " n " << n << (trans_b ? " x W^T" : " x W")
                    << (one_weight ? ", one weight" : "") << (accumulate ? ", added into C" : "");
              }
}

// The shapes a streaming step runs: one weight with long rows (k in the thousands: many passes of a
// warp's lanes over k, and a last partial pass) and many or few columns; k odd takes the unpacked
// loads.
TEST(CudaDecode, SmallRowProductsOfLongRowsMatchTheCpu) {
  SKIP_WITHOUT_GPU();
  Generator gen(9);
  for (DType dtype : {DType::f32, DType::bf16})
    for (int64_t m : {1, 4})
      for (auto [k, n] : std::vector<std::pair<int64_t, int64_t>>{{4360, 3000}, {4096, 8}, {2048, 1000}, {2053, 700}})
        for (bool accumulate : {false, true}) {
          const Tensor a = cast(randn({m, k}, gen), dtype), b = cast(randn({n, k}, gen), dtype);
          EXPECT_LT(small_rows_product_error(a, b, true, accumulate, gen), dtype == DType::f32 ? 1e-5 : 1e-2)
              << dtype_name(dtype) << " m " << m << " k " << k << " n " << n << (accumulate ? ", added into C" : "");
        }
}

}  // namespace
}  // namespace ttt
