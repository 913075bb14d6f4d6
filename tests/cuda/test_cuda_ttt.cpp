// TTT layers on CUDA: the same layer on both backends gives the same outputs and gradients, and
// the spec's behaviours (checkpoint group, streaming, causality, padding) hold on the GPU too.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/ops.h"
#include "nn/init.h"
#include "tests/cuda/skip_without_gpu.h"
#include "tests/tensor_compare.h"
#include "ttt/ttt_variants.h"

namespace ttt {
namespace {

TTTConfig small(const std::string& variant, const std::string& mode) {
  TTTConfig c;
  c.variant = parse_enum<TTTVariant>(variant);
  c.width = 64;
  c.heads = 4;
  if (variant == "multilayer") c.mlp_dims = {16, 40, 24, 16};
  c.mini_batch_size = 8;
  c.ttt_base_lr = 0.5;
  c.minibatch_mode = parse_enum<MiniBatchMode>(mode);
  return c;
}

std::shared_ptr<TTTBase> build(const TTTConfig& c, Device device) {
  Generator gen(31);
  auto layer = make_ttt(c, gen);
  for (auto& [name, t] : layer->named_parameters())
    if (name.rfind("W", 0) == 0 || name.rfind("weights.", 0) == 0) t.set_data(nn::init::normal(t.shape(), 0, 0.3, gen));
  layer->to(device);
  return layer;
}

struct LayerRun {
  Tensor y, gx;
  std::vector<Tensor> grads;
};

LayerRun run(const TTTConfig& c, Device device, const Tensor& x_cpu, const SeqMetadata& meta = {}) {
  auto layer = build(c, device);
  Tensor x = clone_data(to_device(x_cpu, device)).set_requires_grad(true);  // a fresh leaf per run
  Tensor y = layer->forward(x, meta);
  backward(sum(square(y)));
  LayerRun r{y, x.grad(), {}};
  for (auto& [n, t] : layer->named_parameters()) r.grads.push_back(t.grad());
  return r;
}

TEST(CudaTtt, MatchesCpuForEveryVariantAndMode) {
  SKIP_WITHOUT_GPU();
  Generator gen(1);
  Tensor x = randn({2, 37, 64}, gen);  // 37 tokens: 5 mini-batches of 8, the last one padded
  for (const char* v : {"linear", "mlp", "multilayer"})
    for (const char* mode : {"causal", "full"}) {
      TTTConfig c = small(v, mode);
      LayerRun cpu = run(c, Device::cpu(), x), gpu = run(c, Device::cuda(0), x);
      EXPECT_LT(testing::relative_error(gpu.y, cpu.y), 1e-4) << v << " " << mode;
      EXPECT_LT(testing::relative_error(gpu.gx, cpu.gx), 1e-4) << v << " " << mode;
      for (size_t i = 0; i < cpu.grads.size(); ++i)
        EXPECT_LT(testing::relative_error(gpu.grads[i], cpu.grads[i]), 1e-4) << v << " " << mode << " param " << i;
    }
}

TEST(CudaTtt, CheckpointGroupDoesNotChangeResults) {
  SKIP_WITHOUT_GPU();
  Generator gen(2);
  Tensor x = randn({2, 48, 64}, gen);
  for (const char* v : {"mlp", "multilayer"}) {
    TTTConfig c = small(v, "causal");
    LayerRun ref = run(c, Device::cuda(0), x);
    c.scan_checkpoint_group = 2;
    LayerRun ck = run(c, Device::cuda(0), x);
    EXPECT_EQ(testing::relative_error(ck.y, ref.y), 0.0) << v;
    EXPECT_LT(testing::relative_error(ck.gx, ref.gx), 1e-5) << v;
    for (size_t i = 0; i < ref.grads.size(); ++i)
      EXPECT_LT(testing::relative_error(ck.grads[i], ref.grads[i]), 1e-5) << v << " param " << i;
  }
}

TEST(CudaTtt, StreamingCausalityAndPadding) {
  SKIP_WITHOUT_GPU();
  Generator gen(3);
  auto layer = build(small("mlp", "causal"), Device::cuda(0));
  Tensor x = to_device(randn({2, 32, 64}, gen), Device::cuda(0));
  Tensor whole = layer->forward(x);
  Tensor first = layer->forward(slice(x, 1, 0, 16));
  layer->set_inner_state(layer->inner_state());
  SeqMetadata next;
  next.position_offset = 16;
  next.continue_from_state = true;
  Tensor second = layer->forward(slice(x, 1, 16, 32), next);
  EXPECT_LT(testing::relative_error(cat({first, second}, 1), whole), 1e-5);
  // causality: changing tokens 12.. leaves outputs 0..11 unchanged
  Tensor changed = cat({slice(x, 1, 0, 12), slice(x, 1, 12, 32) + 1.0}, 1);
  EXPECT_EQ(testing::relative_error(slice(layer->forward(changed), 1, 0, 12), slice(whole, 1, 0, 12)), 0.0);
  // padding: 29 real tokens + 3 padded ones give the outputs of the 29 alone
  SeqMetadata padded;
  padded.valid_length = 29;
  EXPECT_LT(testing::relative_error(slice(layer->forward(changed, padded), 1, 0, 12), slice(whole, 1, 0, 12)), 1e-6);
  EXPECT_LT(testing::relative_error(slice(layer->forward(x, padded), 1, 0, 29), layer->forward(slice(x, 1, 0, 29))), 1e-6);
}

}  // namespace
}  // namespace ttt
