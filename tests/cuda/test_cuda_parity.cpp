// CPU/CUDA parity: every op case (tests/op_cases.h) plus larger odd-shaped and empty cases run in
// f32 on both backends; outputs and every input gradient must agree. Skipped without a GPU.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <utility>

#include <cmath>

#include "core/allocator.h"
#include "core/backend.h"
#include "core/compute.h"
#include "core/error.h"
#include "tests/cuda/skip_without_gpu.h"
#include "tests/op_cases.h"

namespace ttt::testing {
namespace {

// max |a - b| / max(max |a|, 1e-3): one relative figure per tensor.
double rel_error(const Tensor& a, const Tensor& b) {
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  EXPECT_EQ(x.size(), y.size());
  double diff = 0, scale = 1e-3;
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) || std::isnan(y[i])) return INFINITY;
    diff = std::max(diff, std::fabs(x[i] - y[i]));
    scale = std::max(scale, std::fabs(x[i]));
  }
  return diff / scale;
}

struct OpRun {
  Tensor out;
  std::vector<Tensor> grads;
};

OpRun run_case(const OpCase& op, Device device, uint64_t seed, DType dtype) {
  Generator gen(seed);
  std::vector<Tensor> inputs;
  for (const Shape& s : op.shapes) inputs.push_back(make_input(s, op.domain, dtype, device, gen).set_requires_grad(true));
  OpRun r;
  r.out = op.fn(inputs);
  Generator wgen(seed + 1);
  Tensor w = to_device(to_dtype(randn(r.out.shape(), wgen), r.out.dtype()), device);
  backward(sum(mul(r.out, w)));
  for (const Tensor& x : inputs) r.grads.push_back(x.grad());
  return r;
}

void expect_parity(const OpCase& op, double tol, DType dtype = DType::f32) {
  OpRun cpu = run_case(op, Device::cpu(), 5, dtype);
  OpRun gpu = run_case(op, Device::cuda(0), 5, dtype);
  ASSERT_EQ(cpu.out.shape(), gpu.out.shape()) << op.name;
  EXPECT_LE(rel_error(cpu.out, gpu.out), tol) << op.name << " forward";
  for (size_t i = 0; i < cpu.grads.size(); ++i) {
    ASSERT_EQ(cpu.grads[i].defined(), gpu.grads[i].defined()) << op.name << " grad " << i;
    if (cpu.grads[i].defined()) {
      EXPECT_LE(rel_error(cpu.grads[i], gpu.grads[i]), tol) << op.name << " grad of input " << i;
    }
  }
}

class CudaParity : public ::testing::TestWithParam<OpCase> {};

TEST_P(CudaParity, MatchesCpu) {
  SKIP_WITHOUT_GPU();
  expect_parity(GetParam(), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(AllOps, CudaParity, ::testing::ValuesIn(op_cases()), [](const auto& p) { return p.param.name; });

// The same cases in bf16: both backends compute in f32 and round each stored value once, so they
// differ by the rounding of values whose f32 sums differ in the last bits (a bf16 step is 2^-8).
class CudaParityBf16 : public ::testing::TestWithParam<OpCase> {};

TEST_P(CudaParityBf16, MatchesCpu) {
  SKIP_WITHOUT_GPU();
  expect_parity(GetParam(), 2e-2, DType::bf16);
}

INSTANTIATE_TEST_SUITE_P(AllOps, CudaParityBf16, ::testing::ValuesIn(op_cases()), [](const auto& p) { return p.param.name; });

// Larger shapes that are not multiples of 32 (several blocks, ragged tails) and empty dims.
std::vector<OpCase> large_cases() {
  using T = const std::vector<Tensor>&;
  std::vector<OpCase> c;
  c.push_back({"binary_broadcast_big", {{37, 1, 1000}, {33, 1}}, [](T x) { return mul(x[0], x[1]) + x[1]; }});
  c.push_back({"unary_chain_big", {{1001, 67}}, [](T x) { return gelu(tanh(x[0])) * sigmoid(x[0]); }});
  c.push_back({"sum_rows_big", {{67, 2049}}, [](T x) { return sum(x[0], {1}); }});
  c.push_back({"sum_cols_big", {{2049, 67}}, [](T x) { return sum(x[0], {0}); }});
  c.push_back({"max_mid_big", {{5, 333, 7}}, [](T x) { return max(x[0], {1}); }});
  // few outputs over long runs: the reduction is cut into pieces and reduced in two or three passes
  c.push_back({"sum_all_huge", {{3, 70001}}, [](T x) { return sum(x[0]); }});
  c.push_back({"max_all_huge", {{70001, 3}}, [](T x) { return max(x[0], {0, 1}); }});
  c.push_back({"max_mid_long", {{3, 5000, 7}}, [](T x) { return max(x[0], {1}); }});
  c.push_back({"rms_norm_many_rows", {{20000, 24}, {24}}, [](T x) { return rms_norm(x[0], x[1]); }});
  c.push_back({"matmul_big", {{3, 65, 129}, {3, 129, 47}}, [](T x) { return matmul(x[0], x[1]); }});
  c.push_back({"matmul_big_t", {{3, 129, 65}, {47, 129}}, [](T x) { return matmul(x[0], x[1], true, true); }});
  c.push_back({"permute_big", {{7, 33, 65}}, [](T x) { return permute(x[0], {2, 0, 1}) * 1.0; }});
  c.push_back({"softmax_big", {{33, 1025}}, [](T x) { return softmax(x[0]); }});
  c.push_back({"swiglu_big", {{37, 2 * 1031}}, [](T x) { return swiglu(x[0]); }});
  c.push_back({"attention_softmax_big", {{2, 3, 300, 300}}, [](T x) { return attention_softmax(x[0], 0.125, true, 100); }});
  c.push_back({"attention_causal_big", {{2, 3, 300, 40}, {2, 3, 300, 40}, {2, 3, 300, 40}}, [](T x) {
                 return attention(x[0], x[1], x[2], 0.15, true, 0, 64);
               }});
  c.push_back({"attention_recompute_big", {{2, 3, 300, 40}, {2, 3, 300, 40}, {2, 3, 300, 40}}, [](T x) {
                 return attention(x[0], x[1], x[2], 0.15, true, 50, 64, true);
               }});
  c.push_back({"log_softmax_big", {{3, 4097}}, [](T x) { return log_softmax(x[0]); }});
  // head dim 64: on CUDA these run the flash kernels (core/cuda/flash_attention.cu in bf16,
  // flash_attention_f32.cu in f32), ragged tiles of 64 included; on the CPU the composed op
  c.push_back({"attention_flash_causal", {{2, 3, 300, 64}, {2, 3, 300, 64}, {2, 3, 300, 64}}, [](T x) {
                 return attention(x[0], x[1], x[2], 0.125, true, 0, 64, true);
               }});
  c.push_back({"attention_flash_causal_window", {{2, 2, 257, 64}, {2, 2, 257, 64}, {2, 2, 257, 64}}, [](T x) {
                 return attention(x[0], x[1], x[2], 0.125, true, 50, 64, true);
               }});
  c.push_back({"attention_flash_full", {{1, 2, 130, 64}, {1, 2, 130, 64}, {1, 2, 130, 64}}, [](T x) {
                 return attention(x[0], x[1], x[2], 0.2, false, 0, 64, true);
               }});
  c.push_back({"attention_flash_full_window", {{1, 2, 200, 64}, {1, 2, 200, 64}, {1, 2, 200, 64}}, [](T x) {
                 return attention(x[0], x[1], x[2], 0.2, false, 70, 64, true);
               }});
  // (one step: the output is v and the gradients of q and k are zero, so their relative error is
  // rounding noise; only v's gradient is compared)
  c.push_back({"attention_flash_one_step", {{2, 1, 1, 64}, {2, 1, 1, 64}, {2, 1, 1, 64}}, [](T x) {
                 return attention(x[0].detach(), x[1].detach(), x[2], 0.125, true, 0, 64, true);
               }});
  // head dim 128 (Moshi 7B's): the same kernels instantiated for it
  c.push_back({"attention_flash_d128_causal", {{2, 2, 300, 128}, {2, 2, 300, 128}, {2, 2, 300, 128}}, [](T x) {
                 return attention(x[0], x[1], x[2], 0.088, true, 0, 64, true);
               }});
  c.push_back({"attention_flash_d128_causal_window", {{1, 3, 257, 128}, {1, 3, 257, 128}, {1, 3, 257, 128}}, [](T x) {
                 return attention(x[0], x[1], x[2], 0.088, true, 50, 64, true);
               }});
  c.push_back({"attention_flash_d128_full_window", {{1, 2, 200, 128}, {1, 2, 200, 128}, {1, 2, 200, 128}}, [](T x) {
                 return attention(x[0], x[1], x[2], 0.1, false, 70, 64, true);
               }});
  // (two steps: at one, the gradients of q and k are zero and their relative error is noise)
  c.push_back({"attention_flash_d128_two_steps", {{2, 1, 2, 128}, {2, 1, 2, 128}, {2, 1, 2, 128}}, [](T x) {
                 return attention(x[0], x[1], x[2], 0.088, true, 0, 64, true);
               }});
  c.push_back({"layer_norm_big", {{129, 769}, {769}, {769}}, [](T x) { return layer_norm(x[0], x[1], x[2]); }});
  c.push_back({"rms_norm_big", {{1031, 768}, {768}}, [](T x) { return rms_norm(x[0], x[1]); }});
  // rows in 16-byte packs held in registers: one row of 4096 (a streaming step's), rows needing
  // several packs a thread with a ragged last pass, rows too wide for the registers (f32), and a
  // width that is not a whole number of packs
  c.push_back({"rms_norm_one_wide_row", {{1, 4096}, {4096}}, [](T x) { return rms_norm(x[0], x[1]); }});
  c.push_back({"rms_norm_several_packs_a_thread", {{3, 12296}, {12296}}, [](T x) { return rms_norm(x[0], x[1]); }});
  c.push_back({"rms_norm_too_wide_for_registers", {{2, 16388}, {16388}}, [](T x) { return rms_norm(x[0], x[1]); }});
  c.push_back({"rms_norm_not_whole_packs", {{5, 4099}, {4099}}, [](T x) { return rms_norm(x[0], x[1]); }});
  // rows of 64 (a warp's two elements per lane), of 70 (a ragged tail) and a row count that leaves
  // the last block's warps partly idle
  c.push_back({"l2_normalize_big", {{2, 3, 301, 64}}, [](T x) { return l2_normalize(x[0]); }});
  c.push_back({"l2_normalize_ragged", {{1001, 70}}, [](T x) { return l2_normalize(x[0]); }});
  c.push_back(
      {"unbiased_head_norm_big", {{2, 5, 301, 64}, {5, 64}, {5, 64}}, [](T x) { return unbiased_head_norm(x[0], x[1], x[2]); }});
  c.push_back(
      {"unbiased_head_norm_ragged", {{3, 7, 70}, {3, 70}, {3, 70}}, [](T x) { return unbiased_head_norm(x[0], x[1], x[2]); }});
  // E10 at the 7B branches' shape (32 heads, mini-batch 64, width 128) and ragged
  c.push_back({"ln_l2_grad_big", {{1, 32, 64, 128}, {1, 32, 64, 128}, {32, 128}, {32, 128}}, [](T x) {
                 return ln_l2_grad(x[0], x[1], x[2], x[3], 1e-6);
               }});
  c.push_back({"ln_l2_grad_ragged", {{3, 7, 70}, {3, 7, 70}, {3, 70}, {3, 70}}, [](T x) {
                 return ln_l2_grad(x[0], x[1], x[2], x[3], 1e-6);
               }});
  // a frozen weight: the backward skips its g xhat term
  c.push_back({"unbiased_head_norm_frozen_weight", {{2, 3, 9, 40}, {3, 40}, {3, 40}}, [](T x) {
                 return unbiased_head_norm(x[0], x[1].detach(), x[2]);
               }});
  c.push_back({"cross_entropy_big", {{65, 1001}}, [](T x) {
                 std::vector<int64_t> t;
                 for (int i = 0; i < 65; ++i) t.push_back(i % 5 == 0 ? -1 : (i * 37) % 1001);
                 return cross_entropy(x[0], ids_on(t, {65}, x[0]), -1);
               }});
  c.push_back({"embedding_big", {{1000, 67}}, [](T x) {
                 std::vector<int64_t> ids;
                 for (int i = 0; i < 3 * 41; ++i) ids.push_back((i * 7) % 50);  // repeats: scatter-add collisions
                 return embedding(x[0], ids_on(ids, {3, 41}, x[0]));
               }});
  c.push_back({"rope_big", {{2, 4, 37, 64}}, [](T x) {
                 std::vector<int64_t> p;
                 for (int i = 0; i < 37; ++i) p.push_back(i * 55);
                 return rope(x[0], ids_on(p, {37}, x[0]));
               }});
  c.push_back({"slice_cat_flip_big", {{3, 100, 33}}, [](T x) {
                 return cat({flip(slice(x[0], 1, 10, 77), 2), slice(x[0], 1, 0, 5)}, 1);
               }});
  c.push_back({"tril_big", {{3, 70, 45}}, [](T x) { return tril(x[0], -2); }});
  c.push_back({"empty_binary", {{0, 5}, {5}}, [](T x) { return add(x[0], x[1]); }});
  c.push_back({"empty_matmul", {{4, 0}, {0, 3}}, [](T x) { return matmul(x[0], x[1]); }});
  c.push_back({"empty_reduce", {{0, 7}}, [](T x) { return sum(x[0], {0}); }});
  c.push_back({"empty_reduce_rows", {{3, 0}}, [](T x) { return sum(x[0], {1}); }});
  return c;
}

// run.matmul_precision=tf32 / bf16: products on tensor cores (for bf16 cuBLAS may pick TF32: both
// round the inputs) are close to f32 but visibly rounded (so tensor cores did run), close to the
// CPU's emulation of the mode, and switching back gives exact f32 products again.
TEST(CudaMatmul, ReducedPrecisionIsCloseToF32AndSwitchesBack) {
  SKIP_WITHOUT_GPU();
  Generator gen(21);
  Tensor a = randn({3, 200, 300}, gen), b = randn({300, 150}, gen);
  Tensor exact = matmul(a, b);
  Tensor ga = to_device(a, Device::cuda()), gb = to_device(b, Device::cuda());
  for (auto [mode, tolerance] :
       {std::pair{compute::MatmulPrecision::tf32, 1e-2}, std::pair{compute::MatmulPrecision::bf16, 2e-2}}) {
    SCOPED_TRACE(mode == compute::MatmulPrecision::tf32 ? "tf32" : "bf16");
    compute::set_matmul_precision(mode);
    Tensor rounded = to_device(matmul(ga, gb), Device::cpu());
    Tensor emulated = matmul(a, b);
    compute::set_matmul_precision(compute::MatmulPrecision::f32);
    Tensor f32 = to_device(matmul(ga, gb), Device::cpu());
    EXPECT_LE(rel_error(exact, f32), 1e-5);
    EXPECT_LE(rel_error(exact, rounded), tolerance);
    EXPECT_GE(rel_error(exact, rounded), 1e-5) << "f32-exact products: were tensor cores used?";
    EXPECT_LE(rel_error(emulated, rounded), tolerance);
  }
}

class CudaParityLarge : public ::testing::TestWithParam<OpCase> {};

TEST_P(CudaParityLarge, MatchesCpu) {
  SKIP_WITHOUT_GPU();
  expect_parity(GetParam(), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaParityLarge, ::testing::ValuesIn(large_cases()), [](const auto& p) { return p.param.name; });

class CudaParityLargeBf16 : public ::testing::TestWithParam<OpCase> {};

TEST_P(CudaParityLargeBf16, MatchesCpu) {
  SKIP_WITHOUT_GPU();
  expect_parity(GetParam(), 2e-2, DType::bf16);
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaParityLargeBf16, ::testing::ValuesIn(large_cases()),
                         [](const auto& p) { return p.param.name; });

// Causal attention with recompute over inputs in[0..2] and the weight of the loss in[3], on
// their device: the output, the three input gradients and the op's peak memory beyond what was
// allocated before.
struct AttentionRun {
  OpRun r;
  double peak_mib = 0;
};
AttentionRun run_attention(const std::vector<Tensor>& in) {
  std::vector<Tensor> leaves;
  for (int i = 0; i < 3; ++i) leaves.push_back(in[i].detach().set_requires_grad(true));
  const bool gpu = in[0].device().is_cuda();
  if (gpu) cuda::synchronize();
  const size_t before = gpu ? cuda::allocator_stats().current_bytes : 0;
  if (gpu) cuda::reset_peak_memory();
  AttentionRun a;
  a.r.out = attention(leaves[0], leaves[1], leaves[2], 0.125, true, 0, 256, /*recompute=*/true);
  backward(sum(mul(a.r.out, in[3])));
  for (const Tensor& l : leaves) a.r.grads.push_back(l.grad());
  if (gpu) {
    cuda::synchronize();
    a.peak_mib = (cuda::allocator_stats().peak_bytes - before) / 1048576.0;
  }
  return a;
}

// The largest rel_error of the output and the three gradients.
double worst_error(const OpRun& a, const OpRun& b) {
  double worst = rel_error(a.out, b.out);
  for (int i = 0; i < 3; ++i) worst = std::max(worst, rel_error(a.grads[i], b.grads[i]));
  return worst;
}

std::vector<Tensor> attention_inputs(int64_t n, int64_t S, int64_t d, DType dtype, Device device) {
  Generator gen(3);
  std::vector<Tensor> in;
  for (int i = 0; i < 4; ++i) in.push_back(to_device(to_dtype(randn({n, S, d}, gen), dtype), device));
  return in;
}

// The flash kernels against the composed op with recompute on the same GPU
// (compute::set_flash_attention(false)), in the same dtype and matmul precision: the same values
// to the rounding of that mode, and no [n, S, S] buffer (1024 x 1024 x 8 heads is 16 MiB per
// buffer in bf16, 32 in f32, which the composed op's backward allocates for P, dP and dS); head
// dim 64 and 128; bf16 tensors, and f32 ones with f32 (split TF32), TF32 and bf16 products.
struct FlashCase {
  int64_t d;
  DType dtype;
  compute::MatmulPrecision precision;
  double tolerance;
};

class FlashAttention : public ::testing::TestWithParam<FlashCase> {};

TEST_P(FlashAttention, MatchesTheComposedOpWithoutScoreMatrices) {
  SKIP_WITHOUT_GPU();
  const FlashCase c = GetParam();
  std::vector<Tensor> in = attention_inputs(8, 1024, c.d, c.dtype, Device::cuda(0));
  compute::set_matmul_precision(c.precision);
  ASSERT_TRUE(compute::flash_attention_applies(in[0]));
  AttentionRun flash = run_attention(in);
  compute::set_flash_attention(false);
  AttentionRun composed = run_attention(in);
  compute::set_flash_attention(true);
  compute::set_matmul_precision(compute::MatmulPrecision::f32);
  EXPECT_LE(rel_error(flash.r.out, composed.r.out), c.tolerance);
  for (int i = 0; i < 3; ++i) EXPECT_LE(rel_error(flash.r.grads[i], composed.r.grads[i]), c.tolerance) << "grad of input " << i;
  EXPECT_LT(flash.peak_mib + 16, composed.peak_mib)
      << "flash " << flash.peak_mib << " MiB, composed " << composed.peak_mib << " MiB";
}

std::string flash_case_name(const ::testing::TestParamInfo<FlashCase>& p) {
  const char* products[] = {"f32", "tf32", "bf16"};
  return std::string(p.param.dtype == DType::bf16 ? "bf16" : "f32") + "_products_" +
         products[static_cast<int>(p.param.precision)] + "_d" + std::to_string(p.param.d);
}

INSTANTIATE_TEST_SUITE_P(Modes, FlashAttention,
                         ::testing::Values(FlashCase{64, DType::bf16, compute::MatmulPrecision::f32, 2e-2},
                                           FlashCase{128, DType::bf16, compute::MatmulPrecision::f32, 2e-2},
                                           FlashCase{64, DType::f32, compute::MatmulPrecision::f32, 2e-5},
                                           FlashCase{128, DType::f32, compute::MatmulPrecision::f32, 2e-5},
                                           FlashCase{64, DType::f32, compute::MatmulPrecision::tf32, 1e-2},
                                           FlashCase{128, DType::f32, compute::MatmulPrecision::tf32, 1e-2},
                                           FlashCase{128, DType::f32, compute::MatmulPrecision::bf16, 3e-2}),
                         flash_case_name);

// f32 flash attention takes each product as three TF32 products of split operands: against f64
// on the CPU its error is near the composed op's (cuBLAS f32 products), and far below one TF32
// product's, which shows that the split is what runs.
TEST(FlashAttentionF32, SplitTf32ProductsAreAsAccurateAsF32) {
  SKIP_WITHOUT_GPU();
  const int64_t n = 4, S = 512, d = 128;
  std::vector<Tensor> cpu = attention_inputs(n, S, d, DType::f64, Device::cpu());
  std::vector<Tensor> gpu;
  for (const Tensor& t : cpu) gpu.push_back(to_device(to_dtype(t, DType::f32), Device::cuda(0)));
  const OpRun exact = run_attention(cpu).r;
  auto error_of = [&](bool flash, compute::MatmulPrecision precision) {
    compute::set_flash_attention(flash);
    compute::set_matmul_precision(precision);
    const double e = worst_error(exact, run_attention(gpu).r);
    compute::set_flash_attention(true);
    compute::set_matmul_precision(compute::MatmulPrecision::f32);
    return e;
  };
  const double flash_f32 = error_of(true, compute::MatmulPrecision::f32);
  const double composed_f32 = error_of(false, compute::MatmulPrecision::f32);
  const double flash_tf32 = error_of(true, compute::MatmulPrecision::tf32);
  std::printf("error against f64: flash f32 %.3g, composed f32 %.3g, flash tf32 %.3g\n", flash_f32, composed_f32, flash_tf32);
  EXPECT_LE(flash_f32, 1e-5);
  EXPECT_LE(flash_f32, 10 * composed_f32);
  EXPECT_GE(flash_tf32, 10 * flash_f32);
}

TEST(CudaRng, SameNumbersAsCpu) {
  SKIP_WITHOUT_GPU();
  Generator a(99, 12345), b(99, 12345);
  std::vector<float> cpu_n = randn({100003}, a).to_vector<float>();
  std::vector<float> gpu_n = randn({100003}, b, DType::f32, Device::cuda(0)).to_vector<float>();
  size_t exact = 0;
  double worst = 0;
  for (size_t i = 0; i < cpu_n.size(); ++i) {
    exact += cpu_n[i] == gpu_n[i];
    worst = std::max(worst, double(std::fabs(cpu_n[i] - gpu_n[i])));
  }
  EXPECT_LE(worst, 1e-6);
  EXPECT_GE(exact, cpu_n.size() - 10) << "normals computed in double should round to the same float";
  EXPECT_EQ(rand({5000}, a).to_vector<float>(), rand({5000}, b, DType::f32, Device::cuda(0)).to_vector<float>());
}

TEST(CudaCopies, RoundTripAllDtypes) {
  SKIP_WITHOUT_GPU();
  for (DType t : {DType::f32, DType::f64, DType::i32, DType::i64}) {
    Tensor h = from_vector({1, -2, 3, 40000}, {2, 2}, t);
    Tensor d = to_device(h, Device::cuda(0));
    EXPECT_EQ(to_device(d, Device::cpu()).to_vector<double>(), h.to_vector<double>()) << dtype_name(t);
    EXPECT_EQ(to_dtype(d, DType::f32).to_vector<double>(), h.to_vector<double>()) << dtype_name(t);
  }
}

TEST(CudaErrors, F64OnCudaIsRefusedClearly) {
  SKIP_WITHOUT_GPU();
  Tensor d = zeros({3}, DType::f64, Device::cuda(0));
  try {
    exp(d);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA kernels take f32"), std::string::npos) << e.what();
  }
  Tensor c = zeros({3});
  EXPECT_THROW(add(c, zeros({3}, DType::f32, Device::cuda(0))), Error);
}

}  // namespace
}  // namespace ttt::testing
