// AdamW against torch.optim.AdamW (fixture from tools/reference/adamw_reference.py), schedules
// against their formulas, clipping, frozen parameters and optimizer state.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/ops.h"
#include "nn/init.h"
#include "nn/optim/adamw.h"
#include "nn/optim/clip.h"
#include "nn/optim/schedule.h"
#include "nn/safetensors.h"
#include "tests/test_paths.h"

namespace ttt::nn {
namespace {

Tensor get(const SafetensorsData& d, const std::string& name) {
  for (auto& [n, t] : d.tensors)
    if (n == name) return t;
  throw Error("fixture has no tensor " + name);
}

class TwoParams : public Module {
 public:
  TwoParams(const Tensor& w0, const Tensor& b0) : Module("TwoParams") {
    w = register_parameter("w", clone_data(w0));
    b = register_parameter("b", clone_data(b0));
    frozen = register_parameter("frozen", ones({2}), /*requires_grad=*/false);
  }
  Tensor w, b, frozen;
};

Schedule fixture_schedule() {
  Schedule s;
  s.kind = ScheduleKind::one_cycle;
  s.lr = 0.01;
  s.total_steps = 6;
  s.pct_start = 0.3;
  s.div_factor = 25;
  s.final_div_factor = 1e4;
  return s;
}

void follow_torch_trajectory(Device device) {
  SafetensorsData fx = load_safetensors(ttt::testing::source_dir() + "/tests/fixtures/adamw_trajectory.safetensors");
  TwoParams model(get(fx, "w.init"), get(fx, "b.init"));
  model.to(device);
  AdamWOptions opt;
  opt.beta1 = 0.9;
  opt.beta2 = 0.95;
  opt.eps = 1e-8;
  opt.weight_decay = 0.1;
  AdamW adamw(model, opt, {ParamGroupRule{{"b", ""}, 0.0, 2.0}});
  EXPECT_EQ(adamw.num_managed(), 2u) << "the frozen parameter must not be managed";
  const Schedule sched = fixture_schedule();
  for (int k = 0; k < 6; ++k) {
    const std::string K = std::to_string(k);
    const double lr = lr_at(sched, k);
    EXPECT_NEAR(lr, get(fx, "lr." + K).item<double>(), 1e-12) << "OneCycleLR at step " << k;
    model.w.set_grad(to_device(get(fx, "grad_w." + K), device));
    model.b.set_grad(to_device(get(fx, "grad_b." + K), device));
    adamw.step(lr);
    for (auto [mine, name] : {std::pair{model.w, "w."}, std::pair{model.b, "b."}}) {
      std::vector<float> got = mine.to_vector<float>(), want = get(fx, name + K).to_vector<float>();
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got[i], want[i], 1e-6 + 1e-6 * std::fabs(want[i])) << name << K << " element " << i;
    }
  }
  EXPECT_EQ(model.frozen.to_vector<float>(), std::vector<float>(2, 1.0f));
}

TEST(AdamW, FollowsTorchTrajectoryOnCpu) { follow_torch_trajectory(Device::cpu()); }

TEST(AdamW, CudaFollowsTorchTrajectory) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU visible: fused CUDA AdamW test skipped";
  follow_torch_trajectory(Device::cuda(0));
}

TEST(AdamW, StateRoundTripsAndMismatchIsClear) {
  TwoParams a(ones({4, 3}), ones({3})), b(ones({4, 3}), ones({3}));
  AdamW oa(a, {}), ob(b, {});
  a.w.set_grad(full({4, 3}, 0.5));
  a.b.set_grad(full({3}, -0.5));
  oa.step(1e-2);
  ob.load_state_dict(oa.state_dict());
  EXPECT_EQ(ob.steps(), 1);
  // the same gradient from the same state gives the same update
  b.w.set_data(clone_data(a.w));
  b.b.set_data(clone_data(a.b));
  for (auto* m : {&a, &b}) {
    m->w.set_grad(full({4, 3}, 0.25));
    m->b.set_grad(full({3}, 0.25));
  }
  oa.step(1e-2);
  ob.step(1e-2);
  EXPECT_EQ(a.w.to_vector<float>(), b.w.to_vector<float>());
  auto state = oa.state_dict();
  state.pop_back();
  EXPECT_THROW(ob.load_state_dict(state), Error);
}

TEST(AdamW, GroupRuleMatchingNothingIsAnError) {
  TwoParams m(ones({4, 3}), ones({3}));
  EXPECT_THROW(AdamW(m, {}, {ParamGroupRule{{"**.w1", ""}, 0.0, std::nullopt}}), Error);
}

TEST(Schedule, MatchesFormulas) {
  Schedule s;
  s.kind = ScheduleKind::cosine;
  s.lr = 1.0;
  s.min_lr = 0.1;
  s.warmup_steps = 10;
  s.total_steps = 110;
  validate(s);
  EXPECT_DOUBLE_EQ(lr_at(s, 0), 0.1);  // (0 + 1) / 10
  EXPECT_DOUBLE_EQ(lr_at(s, 9), 1.0);
  EXPECT_DOUBLE_EQ(lr_at(s, 10), 1.0);
  EXPECT_NEAR(lr_at(s, 60), 0.1 + 0.9 * 0.5, 1e-12);  // half way: cos(pi/2) = 0
  EXPECT_NEAR(lr_at(s, 110), 0.1, 1e-12);
  EXPECT_NEAR(lr_at(s, 500), 0.1, 1e-12);
  s.kind = ScheduleKind::linear;
  EXPECT_NEAR(lr_at(s, 35), 1.0 - 0.9 * 0.25, 1e-12);
  s.kind = ScheduleKind::constant;
  EXPECT_DOUBLE_EQ(lr_at(s, 5), 0.6);
  EXPECT_DOUBLE_EQ(lr_at(s, 1000), 1.0);
  s.kind = ScheduleKind::one_cycle;
  s.total_steps = 100;
  s.pct_start = 0.25;
  s.div_factor = 10;
  s.final_div_factor = 100;
  EXPECT_NEAR(lr_at(s, 0), 0.1, 1e-12);                          // lr / div_factor
  EXPECT_NEAR(lr_at(s, 24), 1.0, 1e-12);                         // peak at pct_start * total - 1
  EXPECT_NEAR(lr_at(s, 99), 0.001, 1e-12);                       // lr / div_factor / final_div_factor
  EXPECT_THROW(parse_enum<ScheduleKind>("exponential"), Error);  // kinds are parsed from their names
  s.warmup_steps = 200;                                          // beyond total_steps: fine for one_cycle, which has no warm-up
  EXPECT_NO_THROW(validate(s));
  s.kind = ScheduleKind::cosine;
  EXPECT_THROW(validate(s), Error);
}

TEST(Clip, GlobalNormAndScale) {
  Tensor a = ones({3}).set_requires_grad(true), b = ones({4}).set_requires_grad(true);
  a.set_grad(full({3}, 3.0));  // |g|^2 = 27
  b.set_grad(full({4}, 1.5));  // |g|^2 = 9 -> norm 6
  GradNorm n = global_grad_norm({a, b}, 3.0);
  EXPECT_NEAR(n.norm.item<double>(), 6.0, 1e-6);
  EXPECT_NEAR(n.scale.item<double>(), 3.0 / (6.0 + 1e-6), 1e-6);
  scale_gradients({a, b}, n.scale);
  EXPECT_NEAR(global_grad_norm({a, b}, 0).norm.item<double>(), 3.0, 1e-5);
  EXPECT_DOUBLE_EQ(global_grad_norm({a, b}, 100.0).scale.item<double>(), 1.0);
}

}  // namespace
}  // namespace ttt::nn

namespace ttt::nn {
namespace {

// ZeRO-1 (OptimizerShard): two ranks, each updating the parameters it owns and then taking the
// others' from their owners (what the broadcast does on GPUs), follow the unsharded AdamW exactly;
// each keeps only its share of the state, and a full state loads into each.
class ThreeParams : public Module {
 public:
  ThreeParams() : Module("ThreeParams") {
    a = register_parameter("a", from_vector({0.5, -1.0, 2.0, 0.25, 1.5, -0.75}, {2, 3}));
    b = register_parameter("b", from_vector({1.0, -2.0, 0.5}, {3}));
    c = register_parameter("c", from_vector({0.1, 0.2, 0.3, 0.4}, {4}));
  }
  Tensor a, b, c;
  std::vector<Tensor> all() const { return {a, b, c}; }
};

void set_grads(ThreeParams& m, int step) {
  for (Tensor p : m.all()) {
    std::vector<double> g(static_cast<size_t>(p.numel()));
    for (size_t i = 0; i < g.size(); ++i) g[i] = std::sin(0.7 * static_cast<double>(i) + step + p.numel());
    p.set_grad(from_vector(g, p.shape()));
  }
}

TEST(AdamWSharded, TwoRanksFollowTheUnshardedOptimizerExactly) {
  ThreeParams whole, rank0, rank1;
  AdamW full(whole, {}), s0(rank0, {}, {}, OptimizerShard{0, 2}), s1(rank1, {}, {}, OptimizerShard{1, 2});
  // largest first to the least loaded: a (6) -> 0, c (4) -> 1, b (3) -> 1
  std::vector<int> owner;
  for (const auto& o : s0.owners()) owner.push_back(o.owner);
  EXPECT_EQ(owner, (std::vector<int>{0, 1, 1}));
  EXPECT_EQ(s0.state_dict().size(), 1u + 2u);  // step, a's two moments
  EXPECT_EQ(s1.state_dict().size(), 1u + 4u);
  EXPECT_NE(s1.groups_report().find("rank 1 of 2 keeps the state of 2 tensors, 7 of 13 elements"), std::string::npos)
      << s1.groups_report();
  for (int step = 0; step < 5; ++step) {
    for (ThreeParams* m : {&whole, &rank0, &rank1}) set_grads(*m, step);
    full.step(1e-2);
    s0.step(1e-2);
    s1.step(1e-2);
    // the "broadcast": each parameter from its owner to the other rank
    for (size_t i = 0; i < owner.size(); ++i) {
      const Tensor from = (owner[i] == 0 ? rank0 : rank1).all()[i];
      copy_into((owner[i] == 0 ? rank1 : rank0).all()[i], from);
    }
  }
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(rank0.all()[i].to_vector<double>(), whole.all()[i].to_vector<double>()) << i;
    EXPECT_EQ(rank1.all()[i].to_vector<double>(), whole.all()[i].to_vector<double>()) << i;
  }
  // the full state (a checkpoint) loads into a sharded optimizer, which keeps its part
  ThreeParams again;
  AdamW resumed(again, {}, {}, OptimizerShard{1, 2});
  resumed.load_state_dict(full.state_dict());
  EXPECT_EQ(resumed.steps(), 5);
  const auto part = resumed.state_dict(), whole_state = full.state_dict();
  for (const auto& [name, t] : part)
    for (const auto& [wname, wt] : whole_state) {
      if (name == wname) {
        EXPECT_EQ(t.to_vector<double>(), wt.to_vector<double>()) << name;
      }
    }
  EXPECT_THROW(AdamW(again, {}, {}, OptimizerShard{2, 2}), Error);
}

}  // namespace
}  // namespace ttt::nn
