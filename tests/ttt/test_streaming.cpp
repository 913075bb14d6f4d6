// Streaming (docs/inference.md): a model fed one time step at a time, with attention KV caches and
// TTT inner states carried between steps, gives the full-sequence forward's logits at every
// position: every TTT variant, mini-batch sizes that do not divide the length, a context window
// shorter than the sequence, several sequences at once, the fused scan and the composed one.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <string>

#include "autograd/ops.h"
#include "core/device.h"
#include "core/error.h"
#include "core/profile.h"
#include "ttt/depformer.h"
#include "ttt/model.h"

namespace ttt {
namespace {

struct StreamCase {
  std::string name;
  TTTVariant variant;
  int64_t mini_batch;
  int64_t context;
  bool use_kernel;
  bool other_options = false;  // lr_gate full_width, mini-batch RoPE positions, no q/k L2 norm, no target norm
};

ModelConfig streaming_model(const StreamCase& k) {
  ModelConfig c;
  c.width = 32;
  c.num_layers = 3;
  c.num_heads = 4;
  c.ffn_hidden = 48;
  c.hybrid_layers = {0, -1};
  c.text_vocab = 20;
  c.audio_streams = 2;
  c.audio_vocab = 9;
  c.context = k.context;
  c.gate_init = 0.8;  // a visible TTT branch
  c.ttt.variant = k.variant;
  c.ttt.heads = 4;
  c.ttt.mlp_expansion = 2;
  if (k.variant == TTTVariant::multilayer) c.ttt.mlp_dims = {8, 12, 8};
  c.ttt.mini_batch_size = k.mini_batch;
  c.ttt.use_kernel = k.use_kernel;
  if (k.other_options) {
    c.ttt.lr_gate = LrGate::full_width;
    c.ttt.rope_positions = RopePositions::minibatch;
    c.ttt.qk_l2_norm = false;
    c.ttt.target_norm = false;
  }
  return c;
}

Tensor random_tokens(int64_t B, int64_t S, const ModelConfig& c, uint64_t seed) {
  Generator gen(seed);
  std::vector<double> u = rand({B, S, c.num_streams()}, gen, DType::f64).to_vector<double>();
  for (size_t i = 0; i < u.size(); ++i)
    u[i] = std::floor(u[i] * static_cast<double>(c.vocab(static_cast<int64_t>(i) % c.num_streams())));
  return from_vector(u, {B, S, c.num_streams()}, DType::i64);
}

// The largest |streamed - full| over every stream and position, relative to the largest |full|.
double streamed_vs_full(const HybridLM& model, const Tensor& tokens) {
  NoGradGuard no_grad;
  const std::vector<Tensor> full = model.forward(tokens);
  ModelStream stream = model.start_stream(tokens.size(1));
  double diff = 0, scale = 0;
  for (int64_t t = 0; t < tokens.size(1); ++t) {
    const std::vector<Tensor> step = model.logits_step(slice(tokens, 1, t, t + 1), stream);
    for (size_t s = 0; s < full.size(); ++s) {
      const std::vector<float> a = slice(full[s], 1, t, t + 1).to_vector<float>(), b = step[s].to_vector<float>();
      for (size_t i = 0; i < a.size(); ++i) {
        diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
        scale = std::max(scale, std::fabs(static_cast<double>(a[i])));
      }
    }
  }
  EXPECT_EQ(stream.steps, tokens.size(1));
  return diff / scale;
}

class Streaming : public ::testing::TestWithParam<StreamCase> {};

void expect_streaming_exact(const StreamCase& k, Device device) {
  const ModelConfig c = streaming_model(k);
  Generator gen(7);
  HybridLM model(c, gen);
  for (auto& [name, p] : model.named_parameters())  // learned token-position biases (E6), not their zero start
    if (name.find("learnable_token_idx_bias") != std::string::npos) copy_into(p, (rand(p.shape(), gen) - 0.5) * 0.6);
  model.to(device);
  const Tensor tokens = to_device(random_tokens(2, 13, c, 3), device);  // 13: no mini-batch size here divides it
  const double rel = streamed_vs_full(model, tokens);
  EXPECT_LT(rel, 1e-5) << k.name << " on " << device.str();
  std::printf("%s on %s: streamed logits %.1e relative to the full forward\n", k.name.c_str(), device.str().c_str(), rel);
}

TEST_P(Streaming, EqualsTheFullForwardAtEveryPosition) { expect_streaming_exact(GetParam(), Device::cpu()); }

TEST_P(Streaming, EqualsTheFullForwardAtEveryPositionOnCuda) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU visible (run test_ttt on the device machine)";
  expect_streaming_exact(GetParam(), Device::cuda(0));
}

INSTANTIATE_TEST_SUITE_P(Variants, Streaming,
                         ::testing::Values(StreamCase{"linear_b4", TTTVariant::linear, 4, 0, false},
                                           StreamCase{"mlp_b3_context5", TTTVariant::mlp, 3, 5, false},
                                           StreamCase{"multilayer_b5", TTTVariant::multilayer, 5, 0, false},
                                           StreamCase{"mlp_b4_fused", TTTVariant::mlp, 4, 0, true},
                                           StreamCase{"linear_b1_context3_fused", TTTVariant::linear, 1, 3, true},
                                           StreamCase{"mlp_b4_other_options", TTTVariant::mlp, 4, 0, false, true}),
                         [](const ::testing::TestParamInfo<StreamCase>& i) { return i.param.name; });

// A sequence's stream does not depend on the others streamed beside it.
TEST(StreamingBatch, SequencesAreIndependent) {
  const ModelConfig c = streaming_model({"mlp", TTTVariant::mlp, 4, 0, false});
  Generator gen(7);
  HybridLM model(c, gen);
  const Tensor both = random_tokens(2, 9, c, 5);
  NoGradGuard no_grad;
  ModelStream pair = model.start_stream(9), alone = model.start_stream(9);
  for (int64_t t = 0; t < 9; ++t) {
    const Tensor step = slice(both, 1, t, t + 1);
    const Tensor a = model.logits_step(step, pair)[0], b = model.logits_step(slice(step, 0, 1, 2), alone)[0];
    // equal up to the products' rounding: a BLAS may sum a product of 2 rows in another order than one of 1
    const std::vector<float> x = slice(a, 0, 1, 2).to_vector<float>(), y = b.to_vector<float>();
    for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(x[i], y[i], 1e-5 * (1 + std::fabs(y[i]))) << "step " << t << ", " << i;
  }
}

// The kernels `run` launches, by "region > region | kernel" (core/profile.h counts them on the CPU
// as on a GPU, where a step's time goes more to their number than to their work).
std::map<std::string, int64_t> kernels_launched(const std::function<void()>& run) {
  profile::set_enabled(true);
  profile::reset();
  run();
  std::map<std::string, int64_t> launched = profile::launches();
  profile::reset();
  profile::set_enabled(false);
  return launched;
}

int64_t launches_of(const std::map<std::string, int64_t>& launched, const std::string& key) {
  const auto it = launched.find(key);
  return it == launched.end() ? 0 : it->second;
}

std::string listing(const std::map<std::string, int64_t>& launched) {
  std::string all = "launched:";
  for (const auto& [key, n] : launched) all += "\n  " + std::to_string(n) + "  " + key;
  return all;
}

// A streaming step of the temporal stack: each attention layer rotates its query and key with one
// kernel and writes its key and value into the cache; no layer launches an add of its own but the
// TTT branch's sum: the attention and feed-forward residual sums are made by their output
// products (Linear::forward_add into the residual stream's buffer). Layers 0 and 2 are hybrid.
// The first step is not counted: it allocates the state and reads the parameters it keeps.
TEST(StreamingKernels, AStepAddsTheResidualsInTheProductsAndRotatesQueryAndKeyTogether) {
  const ModelConfig c = streaming_model({"linear", TTTVariant::linear, 4, 0, false});
  Generator gen(7);
  HybridLM model(c, gen);
  NoGradGuard no_grad;
  const Tensor tokens = random_tokens(1, 2, c, 3);
  ModelStream stream = model.start_stream(2);
  model.logits_step(slice(tokens, 1, 0, 1), stream);
  const auto launched = kernels_launched([&] { model.logits_step(slice(tokens, 1, 1, 2), stream); });
  SCOPED_TRACE(listing(launched));
  for (const auto& [layer, layers] :
       std::map<std::string, int64_t>{{"HybridLM > TransformerLayer", 1}, {"HybridLM > HybridLayer", 2}}) {
    EXPECT_EQ(launches_of(launched, layer + " > MultiHeadAttention | rope"), layers) << layer;
    EXPECT_EQ(launches_of(launched, layer + " > MultiHeadAttention | cache_write"), 2 * layers) << layer;
    EXPECT_EQ(launches_of(launched, layer + " > MultiHeadAttention > Linear | matmul"), 2 * layers) << layer;
    EXPECT_EQ(launches_of(launched, layer + " > SwiGLU > Linear | matmul"), 2 * layers) << layer;
  }
  EXPECT_EQ(launches_of(launched, "HybridLM > TransformerLayer | add"), 0);
  EXPECT_EQ(launches_of(launched, "HybridLM > HybridLayer | add"), 2);  // the TTT branches' sums
  // what depends only on parameters was read by the first step: the gate, w_pos (E6)
  EXPECT_EQ(launches_of(launched, "HybridLM > HybridLayer > SSMGating | tanh"), 0);
  EXPECT_EQ(launches_of(launched, "HybridLM > HybridLayer > TTTLinear | maximum"), 0);
}

// The depformer's step of one codebook: one cache write for the key and the value (they lie side
// by side in its fused projection), and its sums made by the products, as above.
TEST(StreamingKernels, ADepformerStepWritesKeyAndValueAtOnceAndAddsInTheProducts) {
  DepformerConfig c;
  c.steps = 3;
  c.context = 3;
  Generator gen(4);
  Depformer depformer(c, gen, Device::cpu());
  NoGradGuard no_grad;
  const Tensor temporal = randn({2, 1, c.model_width}, gen);
  const Tensor text = from_vector({1, 5}, {2, 1}, DType::i64);
  const auto launched = kernels_launched([&] {
    depformer.generate(temporal, text, [](int64_t k, const Tensor&) { return from_vector({1.0 + k, 2.0}, {2}, DType::i64); });
  });
  SCOPED_TRACE(listing(launched));
  const int64_t layer_steps = c.num_layers * c.steps;
  EXPECT_EQ(launches_of(launched, "Depformer > DepformerLayer | cache_write"), layer_steps);
  EXPECT_EQ(launches_of(launched, "Depformer > DepformerLayer > Linear | matmul"), 2 * layer_steps);
  EXPECT_EQ(launches_of(launched, "Depformer > DepformerLayer | add"), 0);
  EXPECT_EQ(launches_of(launched, "Depformer | add"), 0);  // the input projection adds into the token's embedding
}

TEST(StreamingRefuses, NonCausalLayers) {
  ModelConfig c = streaming_model({"mlp", TTTVariant::mlp, 4, 0, false});
  c.causal = false;
  c.bidirectional = true;
  c.ttt.minibatch_mode = MiniBatchMode::full;
  Generator gen(7);
  HybridLM model(c, gen);
  ModelStream stream = model.start_stream(2);
  EXPECT_THROW(model.logits_step(slice(random_tokens(1, 2, c, 1), 1, 0, 1), stream), Error);
}

}  // namespace
}  // namespace ttt
