// Module registration, hierarchical names, containers, devices, state dicts.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "core/profile.h"
#include "nn/containers.h"
#include "nn/init.h"
#include "nn/layers.h"
#include "tests/profile_case.h"

namespace ttt::nn {
namespace {

std::vector<std::string> names(const std::vector<NamedTensor>& v) {
  std::vector<std::string> out;
  for (auto& [n, t] : v) out.push_back(n);
  return out;
}

// A block with a linear child, a list of layers and a parameter list: the shapes of the real models.
class Block : public Module {
 public:
  Block(Generator& gen, Device device = Device::cpu()) : Module("Block") {
    proj = register_module("proj", std::make_shared<Linear>(4, 3, true, gen, device));
    layers = register_module("layers", std::make_shared<ModuleList>());
    for (int i = 0; i < 2; ++i) layers->push_back(std::make_shared<LayerNorm>(3, 1e-5, true, device));
    weights = register_module("weights", std::make_shared<ParameterList>());
    weights->append(init::normal({2, 3}, 0, 1, gen, device));
    weights->append(init::normal({3, 2}, 0, 1, gen, device));
    scale = register_parameter("scale", init::ones({1}, device));
    register_buffer("step", zeros({}, DType::i64, device));
    register_buffer("scratch", zeros({2}, DType::f32, device), /*persistent=*/false);
  }
  std::shared_ptr<Linear> proj;
  std::shared_ptr<ModuleList> layers;
  std::shared_ptr<ParameterList> weights;
  Tensor scale;
};

// The profiler charges work to the module kinds that were running: a tape node remembers the
// region its forward ran in, so its backward is charged there too (core/profile.h).
TEST(Module, ProfilerRegionsFollowTheModuleStack) {
  profile::set_enabled(true);
  Generator gen(3);
  Block block(gen);
  EXPECT_EQ(profile::current_region(), "");
  Tensor y;
  {
    profile::Region outer("step");
    y = block.proj->forward(ones({2, 4}));
    EXPECT_EQ(profile::current_region(), "step");
  }
  profile::set_enabled(false);
  ASSERT_TRUE(y.grad_fn() != nullptr);
  EXPECT_EQ(y.grad_fn()->profile_region(), "step > Linear");
  Tensor z = block.proj->forward(ones({2, 4}));  // profiling off: nothing recorded
  EXPECT_EQ(z.grad_fn()->profile_region(), "");
}

// The same on the CPU, where kernels are timed by the host clock.
TEST(Module, ProfilerChargesCpuKernelsToTheirRegions) { testing::expect_profile_of_a_linear_step(Device::cpu()); }

// A timer still open when reset() forgets the records keeps nothing (and touches nothing) on close.
TEST(Module, ProfilerResetWhileATimerIsOpen) {
  profile::set_enabled(true);
  {
    profile::KernelTimer open("matmul", Device::cpu());
    profile::reset();
  }
  std::ostringstream os;
  profile::report(os, 1, std::chrono::steady_clock::now());
  profile::set_enabled(false);
  EXPECT_NE(os.str().find("no kernel was timed"), std::string::npos) << os.str();
}

TEST(Module, HierarchicalNamesInRegistrationOrder) {
  Generator gen(1);
  Block b(gen);
  EXPECT_EQ(names(b.named_parameters()),
            (std::vector<std::string>{"scale", "proj.weight", "proj.bias", "layers.0.weight", "layers.0.bias", "layers.1.weight",
                                      "layers.1.bias", "weights.0", "weights.1"}));
  EXPECT_EQ(names(b.named_buffers()), (std::vector<std::string>{"step", "scratch"}));
  EXPECT_EQ(names(b.named_buffers(true)), (std::vector<std::string>{"step"}));
  EXPECT_EQ(b.num_parameters(), 1 + 12 + 3 + 2 * 6 + 6 + 6);
  EXPECT_EQ(b.layers->at<LayerNorm>(1)->path(), "layers.1");
  std::vector<std::string> module_paths;
  for (auto& [p, m] : b.named_modules()) module_paths.push_back(p + ":" + m->kind());
  EXPECT_EQ(module_paths, (std::vector<std::string>{":Block", "proj:Linear", "layers:ModuleList", "layers.0:LayerNorm",
                                                    "layers.1:LayerNorm", "weights:ParameterList"}));
}

TEST(Module, ParametersAreSharedHandles) {
  Generator gen(1);
  Block b(gen);
  for (auto& [n, t] : b.named_parameters())
    if (n == "weights.1") t.set_requires_grad(false);
  EXPECT_FALSE((*b.weights)[1].requires_grad());  // the layer's own handle sees the change
}

TEST(Module, BadRegistrationsAreClearErrors) {
  Module m("Thing");
  m.register_parameter("w", zeros({2}));
  EXPECT_THROW(m.register_parameter("w", zeros({2})), Error);
  EXPECT_THROW(m.register_parameter("a.b", zeros({2})), Error);
  EXPECT_THROW(m.register_parameter("", zeros({2})), Error);
  EXPECT_THROW(m.register_parameter("i", zeros({2}, DType::i64)), Error);
  auto child = std::make_shared<Module>("Child");
  m.register_module("c", child);
  Module other("Other");
  EXPECT_THROW(other.register_module("c", child), Error);  // a module has one parent
}

TEST(Module, TrainEvalPropagates) {
  Generator gen(1);
  Block b(gen);
  b.eval();
  EXPECT_FALSE(b.layers->at<LayerNorm>(0)->is_training());
  b.train();
  EXPECT_TRUE(b.proj->is_training());
}

TEST(Module, MetaModelsAllocateNothingAndCountFast) {
  // 32 layers of 4096x4096 projections (2 billion parameters), on the meta device
  auto start = std::chrono::steady_clock::now();
  Generator gen(1);
  ModuleList stack;
  for (int i = 0; i < 32; ++i) {
    auto layer = std::make_shared<Module>("Layer");
    for (const char* n : {"wq", "wk", "wv", "wo"})
      layer->register_module(n, std::make_shared<Linear>(4096, 4096, true, gen, Device::meta()));
    stack.push_back(layer);
  }
  EXPECT_EQ(stack.num_parameters(), int64_t{32} * 4 * (4096 * 4096 + 4096));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  for (auto& [n, t] : stack.named_parameters()) ASSERT_EQ(t.raw_data(), nullptr) << n;
}

TEST(Module, ForwardErrorsNameTheModule) {
  Generator gen(1);
  Block b(gen);
  try {
    b.layers->at<LayerNorm>(1)->forward(zeros({2, 5}));
    FAIL() << "expected a shape error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("LayerNorm 'layers.1'"), std::string::npos) << e.what();
  }
}

TEST(StateDict, RoundTripAndStrictErrorsListEverything) {
  Generator g1(1), g2(2);
  Block a(g1), b(g2);
  b.load_state_dict(a.state_dict());
  for (size_t i = 0; i < a.state_dict().size(); ++i)
    EXPECT_EQ(a.state_dict()[i].second.to_vector<double>(), b.state_dict()[i].second.to_vector<double>());

  auto state = a.state_dict();
  state.erase(state.begin());                      // missing "scale"
  state.emplace_back("extra.weight", zeros({1}));  // unexpected
  for (auto& [n, t] : state)
    if (n == "proj.weight") t = zeros({3, 5});  // mismatched
  Tensor before = clone_data(b.proj->bias);
  try {
    b.load_state_dict(state);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    for (const char* s :
         {"missing keys (1): scale", "unexpected keys (1): extra.weight", "proj.weight (expected [3, 4], got [3, 5])"})
      EXPECT_NE(msg.find(s), std::string::npos) << msg;
  }
  EXPECT_EQ(b.proj->bias.to_vector<float>(), before.to_vector<float>()) << "a failed strict load wrote values";
  auto report = b.load_state_dict(state, /*strict=*/false);
  EXPECT_EQ(report.missing.size(), 1u);
  EXPECT_EQ(report.unexpected.size(), 1u);
  EXPECT_EQ(report.mismatched.size(), 1u);
}

void expect_close(const Tensor& got, const Tensor& want) {
  const std::vector<float> g = got.to_vector<float>(), w = want.to_vector<float>();
  ASSERT_EQ(g.size(), w.size());
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], w[i], 1e-5 * (1 + std::fabs(w[i]))) << i;
}

// residual + x W^T made by the product: into the residual's buffer only when the caller hands over
// its only handle; a residual the caller keeps is never written; with a bias, the plain sum.
TEST(Linear, ForwardAddWritesOnlyIntoAResidualHandedOver) {
  Generator gen(3);
  Linear linear(6, 4, false, gen);
  const Tensor x = randn({2, 1, 6}, gen), kept = randn({2, 1, 4}, gen);
  const std::vector<float> before = kept.to_vector<float>();
  const Tensor want = add(kept, linear.forward(x));

  const Tensor sum_beside = linear.forward_add(kept, x);
  EXPECT_EQ(kept.to_vector<float>(), before);
  EXPECT_NE(sum_beside.raw_data(), kept.raw_data());
  expect_close(sum_beside, want);

  Tensor handed = clone_data(kept);
  const void* buffer = handed.raw_data();
  const Tensor sum_in_place = linear.forward_add(std::move(handed), x);
  EXPECT_EQ(sum_in_place.raw_data(), buffer);
  expect_close(sum_in_place, want);

  Linear biased(6, 4, true, gen);
  expect_close(biased.forward_add(clone_data(kept), x), add(kept, biased.forward(x)));
}

}  // namespace
}  // namespace ttt::nn
