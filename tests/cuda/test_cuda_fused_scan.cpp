// The fused scan kernel on CUDA against the composed scan on the CPU: outputs, final states and
// every input's gradient in f32 (the CUDA backend's dtype) against f64 on the CPU, over the shared scan
// cases (inner depths 1-3, causal/full, shared/carried state, padding, checkpoint groups) plus
// sizes that cross the kernel's matrix tiles (head dim 64, inner hidden 256, mini-batches 16 and
// 64), and whole layers with use_kernel on the GPU.
#include <gtest/gtest.h>

#include <cmath>

#include "tests/cuda/skip_without_gpu.h"
#include "tests/tensor_compare.h"
#include "tests/ttt/scan_budget.h"
#include "tests/ttt/scan_cases.h"
#include "ttt/kernels/scan_kernels.h"
#include "ttt/ttt_variants.h"

namespace ttt {
namespace {

using testing::ScanCase;

void expect_close(const ScanCase& c, DType dtype, double tol) {
  testing::ScanRun ref = testing::run_scan(c, false, DType::f64, Device::cpu());
  testing::ScanRun got = testing::run_scan(c, true, dtype, Device::cuda(0));
  for (size_t i = 0; i < ref.values.size(); ++i)
    EXPECT_LT(testing::relative_error(got.values[i], ref.values[i]), tol) << c.name << " output " << i;
  const size_t layers = c.dims.size() - 1;
  for (size_t i = 0; i < ref.grads.size(); ++i)
    EXPECT_LT(testing::relative_error(got.grads[i], ref.grads[i]), tol)
        << c.name << " gradient of " << testing::scan_leaf_name(i, layers);
}

std::vector<ScanCase> cuda_cases() {
  std::vector<ScanCase> v = testing::scan_cases();
  v.push_back({"mlp_d64_b16", 1, 2, 3, 16, {64, 256, 64}, true, true, 5, 2});
  v.push_back({"mlp_d64_b64", 1, 1, 2, 64, {64, 256, 64}});
  v.push_back({"linear_d64_b64_full", 1, 2, 2, 64, {64, 64}, false});
  v.push_back({"multilayer_d32_b20", 2, 1, 3, 20, {32, 96, 80, 32}, true, false, 3, 0});
  return v;
}

class FusedScanCuda : public ::testing::TestWithParam<ScanCase> {};

// One block per sequence.
TEST_P(FusedScanCuda, MatchesComposedCpuInF32) {
  SKIP_WITHOUT_GPU();
  scan::set_cuda_blocks_per_sequence(1);
  expect_close(GetParam(), DType::f32, 2e-4);
  scan::set_cuda_blocks_per_sequence(0);
}

std::string case_name(const ::testing::TestParamInfo<ScanCase>& p) { return p.param.name; }
// A cluster of two or four blocks per sequence (scan_cuda.cu) computes the same.
TEST_P(FusedScanCuda, ClustersOfTwoAndFourBlocksMatchComposedCpuInF32) {
  SKIP_WITHOUT_GPU();
  for (int blocks : {2, 4}) {
    SCOPED_TRACE(std::to_string(blocks) + " blocks per sequence");
    scan::set_cuda_blocks_per_sequence(blocks);
    expect_close(GetParam(), DType::f32, 2e-4);
  }
  scan::set_cuda_blocks_per_sequence(0);
}

// One barrier per step instead of one per group of independent steps (set_cuda_shared_barriers,
// on by default), with one block and with a cluster of two per sequence.
TEST_P(FusedScanCuda, PerStepBarriersMatchComposedCpuInF32) {
  SKIP_WITHOUT_GPU();
  const bool shared = scan::cuda_shared_barriers();
  scan::set_cuda_shared_barriers(!shared);
  for (int blocks : {1, 2}) {
    scan::set_cuda_blocks_per_sequence(blocks);
    expect_close(GetParam(), DType::f32, 2e-4);
  }
  scan::set_cuda_blocks_per_sequence(0);
  scan::set_cuda_shared_barriers(shared);
}

// The tiles of a group's products dealt from the first block each time (set_cuda_rotate_tiles(false);
// rotated round robin across the cluster's two blocks by default): every tile computed exactly once
// either way.
TEST_P(FusedScanCuda, UnrotatedTilesMatchComposedCpuInF32) {
  SKIP_WITHOUT_GPU();
  const bool rotate = scan::cuda_rotate_tiles(), shared = scan::cuda_shared_barriers();
  scan::set_cuda_rotate_tiles(false);
  scan::set_cuda_shared_barriers(true);  // groups exist only with shared barriers
  scan::set_cuda_blocks_per_sequence(2);
  expect_close(GetParam(), DType::f32, 2e-4);
  scan::set_cuda_blocks_per_sequence(0);
  scan::set_cuda_shared_barriers(shared);
  scan::set_cuda_rotate_tiles(rotate);
}

INSTANTIATE_TEST_SUITE_P(Cases, FusedScanCuda, ::testing::ValuesIn(cuda_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(Random, FusedScanCuda, ::testing::ValuesIn(testing::random_scan_cases(12)), case_name);

TEST(FusedScanCudaLayer, KernelOnGpuMatchesComposedOnCpu) {
  SKIP_WITHOUT_GPU();
  for (const std::string variant : {"linear", "mlp", "multilayer"}) {
    TTTConfig c;
    c.variant = parse_enum<TTTVariant>(variant);
    c.width = 64;
    c.heads = 4;
    if (variant == "multilayer") c.mlp_dims = {16, 40, 24, 16};
    c.mini_batch_size = 8;
    c.ttt_base_lr = 0.5;
    c.scan_checkpoint_group = variant == "mlp" ? 2 : 0;
    std::vector<Tensor> outs, grads;
    for (bool gpu : {false, true}) {
      c.use_kernel = gpu;
      Generator gen(3);
      auto layer = make_ttt(c, gen);
      const Device dev = gpu ? Device::cuda(0) : Device::cpu();
      layer->to(dev);
      Generator xg(5);
      Tensor x = to_device(nn::init::normal({2, 29, 64}, 0, 1, xg), dev);
      Tensor y = layer->forward(x);
      backward(sum(mul(y, y)));
      outs.push_back(to_device(y.detach(), Device::cpu()));
      for (auto& [name, p] : layer->named_parameters()) grads.push_back(to_device(p.grad(), Device::cpu()));
    }
    EXPECT_LT(testing::relative_error(outs[1], outs[0]), 1e-4) << variant;
    const size_t half = grads.size() / 2;
    for (size_t i = 0; i < half; ++i)
      EXPECT_LT(testing::relative_error(grads[half + i], grads[i]), 1e-3) << variant << " parameter " << i;
  }
}

// ttt.scan_precision tf32 / bf16: the tensor-core kernels (scan_mma.cuh) held to the budget the
// CPU executor is held to (tests/ttt/test_scan_precision.cpp; docs/performance.md, "Tensor-core
// scans: the error budget"), against the composed scan in f64, along 32 mini-batches, over sizes
// that cross the tiles (head dim 64 and 128, inner hidden up to 512, K not a multiple of the mma's
// 8 or 16), with one block and a cluster of two or four per sequence.
TEST(FusedScanCudaPrecision, Tf32AndBf16KernelsStayWithinTheirBudgetAlong32MiniBatches) {
  SKIP_WITHOUT_GPU();
  const int64_t n = 32;
  for (const scan_precision::Case& c :
       {scan_precision::Case{"mlp", {32, 128, 32}, 16, 0.1}, scan_precision::Case{"multilayer", {32, 96, 80, 32}, 20, 0.1},
        scan_precision::Case{"linear", {64, 64}, 64, 1.0}, scan_precision::Case{"mlp", {64, 256, 64}, 64, 0.1},
        scan_precision::Case{"mlp", {128, 512, 128}, 16, 0.1}, scan_precision::Case{"linear", {128, 128}, 16, 1.0}}) {
    const scan_precision::Run ref = scan_precision::run(c, 2, n, 3, DType::f64, MatmulPrecision::f32);
    for (int blocks : {1, 2, 4}) {
      scan::set_cuda_blocks_per_sequence(blocks);
      for (const testing::ScanBudget& budget : testing::kScanBudgets) {
        SCOPED_TRACE(std::string(c.name) + " d " + std::to_string(c.dims[0]) + " hidden " + std::to_string(c.dims[1]) + " b " +
                     std::to_string(c.b) + " " + enum_name(budget.precision) + ", " + std::to_string(blocks) + " block(s)");
        const scan_precision::Run got =
            scan_precision::run(c, 2, n, 3, DType::f32, budget.precision, /*fused=*/true, Device::cuda(0));
        testing::expect_within_budget(got, ref, n, budget.u);
      }
    }
  }
  scan::set_cuda_blocks_per_sequence(0);
}

}  // namespace
}  // namespace ttt
