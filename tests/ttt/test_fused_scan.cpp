// The fused scan (use_kernel: true) against the composed autograd scan on the CPU: the same
// outputs, final inner states and gradients for every input, over inner depths 1-3, causal and
// full mode, shared and carried initial states, padding and scan checkpoint groups; an f64
// finite-difference gradcheck of the fused op; and a whole TTT layer with use_kernel on and off.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <set>

#include "autograd/gradcheck.h"
#include "autograd/node.h"
#include "tests/tensor_compare.h"
#include "tests/ttt/scan_cases.h"
#include "ttt/kernels/scan_kernels.h"
#include "ttt/ttt_variants.h"

namespace ttt {
namespace {

using testing::ScanCase;

// True when an op named `op` is on the tape behind y.
bool graph_has(const Tensor& y, const std::string& op) {
  std::vector<std::shared_ptr<Node>> todo = {y.grad_fn()};
  std::set<const Node*> seen;
  while (!todo.empty()) {
    std::shared_ptr<Node> n = todo.back();
    todo.pop_back();
    if (!n || !seen.insert(n.get()).second) continue;
    if (n->name() == op) return true;
    for (const Edge& e : n->inputs()) todo.push_back(e.fn);
  }
  return false;
}

class FusedScanCpu : public ::testing::TestWithParam<ScanCase> {};

TEST_P(FusedScanCpu, MatchesComposedValuesAndGradients) {
  const ScanCase& c = GetParam();
  testing::ScanRun ref = testing::run_scan(c, false, DType::f64, Device::cpu());
  testing::ScanRun got = testing::run_scan(c, true, DType::f64, Device::cpu());
  ASSERT_EQ(ref.values.size(), got.values.size());
  // Relative to the largest reference entry: with d = 2 the inner LayerNorm's gradients reach 1e4
  // and f64 rounding differences grow with them (random_1: 9e-12 relative, 3e-7 absolute).
  for (size_t i = 0; i < ref.values.size(); ++i) {
    ASSERT_EQ(ref.values[i].shape(), got.values[i].shape()) << "output " << i;
    EXPECT_LT(testing::relative_error(got.values[i], ref.values[i]), 1e-10) << "output " << i;
  }
  const size_t layers = c.dims.size() - 1;
  for (size_t i = 0; i < ref.grads.size(); ++i) {
    ASSERT_EQ(ref.grads[i].shape(), got.grads[i].shape()) << testing::scan_leaf_name(i, layers);
    EXPECT_LT(testing::relative_error(got.grads[i], ref.grads[i]), 1e-9) << "gradient of " << testing::scan_leaf_name(i, layers);
  }
}

// The steps scan_algo.h groups under one barrier (together()) must not depend on each other: the
// GPU runs them with no barrier between. Run in reverse order within each group, they must give
// the same bits.
TEST_P(FusedScanCpu, GroupedStepsAreIndependent) {
  const ScanCase& c = GetParam();
  testing::ScanRun in_order = testing::run_scan(c, true, DType::f64, Device::cpu());
  scan::set_cpu_groups_reversed(true);
  testing::ScanRun reversed = testing::run_scan(c, true, DType::f64, Device::cpu());
  scan::set_cpu_groups_reversed(false);
  for (size_t i = 0; i < in_order.values.size(); ++i)
    EXPECT_EQ(testing::max_abs_diff(in_order.values[i], reversed.values[i]), 0.0) << "output " << i;
  const size_t layers = c.dims.size() - 1;
  for (size_t i = 0; i < in_order.grads.size(); ++i)
    EXPECT_EQ(testing::max_abs_diff(in_order.grads[i], reversed.grads[i]), 0.0)
        << "gradient of " << testing::scan_leaf_name(i, layers);
}

std::string case_name(const ::testing::TestParamInfo<ScanCase>& p) { return p.param.name; }
INSTANTIATE_TEST_SUITE_P(Cases, FusedScanCpu, ::testing::ValuesIn(testing::scan_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(Random, FusedScanCpu, ::testing::ValuesIn(testing::random_scan_cases(12)), case_name);

TEST(FusedScan, GradcheckF64) {
  for (const ScanCase& c : {ScanCase{"mlp", 1, 1, 2, 2, {2, 3, 2}, true, true, 0, 0},
                            ScanCase{"multilayer_group", 1, 2, 3, 2, {2, 3, 2, 2}, true, false, 0, 2}}) {
    ScanInputs in = testing::make_scan_inputs(c, DType::f64, Device::cpu());
    const size_t layers = in.weights.size();
    auto fn = [layers, c](const std::vector<Tensor>& a) {
      ScanInputs s{a[0], a[1], a[2], a[3], a[4], a[5], {}, {}};
      s.weights.assign(a.begin() + 6, a.begin() + 6 + static_cast<int64_t>(layers));
      s.biases.assign(a.begin() + 6 + static_cast<int64_t>(layers), a.end());
      ScanOptions opt;
      opt.checkpoint_group = c.group;
      ScanOutputs o = fused_scan(s, opt);
      // one output tensor that depends on the outputs and on the final state
      Tensor y = reshape(o.out, {-1});
      for (const Tensor& t : o.weights) y = cat({y, reshape(t, {-1})}, 0);
      for (const Tensor& t : o.biases) y = cat({y, reshape(t, {-1})}, 0);
      return y;
    };
    GradcheckResult r = gradcheck(fn, testing::scan_leaves(in));
    EXPECT_TRUE(r.ok) << c.name << ": " << r.report;
  }
}

TEST(FusedScan, LayerWithKernelMatchesComposedLayer) {
  for (const std::string variant : {"linear", "mlp", "multilayer"}) {
    TTTConfig c;
    c.variant = parse_enum<TTTVariant>(variant);
    c.width = 8;
    c.heads = 2;
    c.mlp_expansion = 2;
    if (variant == "multilayer") c.mlp_dims = {4, 6, 5, 4};
    c.mini_batch_size = 3;
    c.ttt_base_lr = 0.5;
    std::vector<std::vector<double>> outs, grads;
    for (bool kernel : {false, true}) {
      c.use_kernel = kernel;
      Generator gen(3);
      auto layer = make_ttt(c, gen);
      layer->to_dtype(DType::f64);
      Generator xg(5);
      Tensor x = to_dtype(nn::init::normal({2, 7, 8}, 0, 1, xg), DType::f64);
      Tensor y = layer->forward(x);
      EXPECT_EQ(graph_has(y, "fused_scan"), kernel) << variant << ": use_kernel " << kernel << " picks the wrong scan";
      backward(sum(mul(y, y)));
      outs.push_back(y.to_vector<double>());
      std::vector<double> g;
      for (auto& [name, p] : layer->named_parameters())
        for (double v : p.grad().to_vector<double>()) g.push_back(v);
      grads.push_back(g);
    }
    ASSERT_EQ(outs[0].size(), outs[1].size());
    for (size_t i = 0; i < outs[0].size(); ++i) ASSERT_NEAR(outs[0][i], outs[1][i], 1e-11) << variant;
    ASSERT_EQ(grads[0].size(), grads[1].size());
    for (size_t i = 0; i < grads[0].size(); ++i) ASSERT_NEAR(grads[0][i], grads[1][i], 1e-10) << variant << " grad " << i;
  }
}

// The CUDA kernel's blocks per sequence: 0 (automatic, the default), 1 or a cluster of 2 or 4;
// anything else is refused.
TEST(FusedScan, BlocksPerSequenceIsAutomaticOneTwoOrFour) {
  EXPECT_EQ(scan::cuda_blocks_per_sequence(), 0);
  EXPECT_THROW(scan::set_cuda_blocks_per_sequence(3), Error);
  EXPECT_THROW(scan::set_cuda_blocks_per_sequence(8), Error);
  EXPECT_THROW(scan::set_cuda_blocks_per_sequence(-1), Error);
  scan::set_cuda_blocks_per_sequence(1);
  EXPECT_EQ(scan::cuda_blocks_per_sequence(), 1);
  scan::set_cuda_blocks_per_sequence(4);
  EXPECT_EQ(scan::cuda_blocks_per_sequence(), 4);
  scan::set_cuda_blocks_per_sequence(0);
  EXPECT_EQ(scan::cuda_blocks_per_sequence(), 0);
  EXPECT_TRUE(scan::cuda_shared_barriers());  // on by default: measured faster on the H100
  EXPECT_TRUE(scan::cuda_rotate_tiles());     // on by default: measured faster on the H100
}

TEST(FusedScan, RefusesThePrimalForm) {
  ScanInputs in = testing::make_scan_inputs(testing::scan_cases()[0], DType::f64, Device::cpu());
  ScanOptions opt;
  opt.form = ScanForm::primal;
  EXPECT_THROW(fused_scan(in, opt), Error);
}

}  // namespace
}  // namespace ttt
