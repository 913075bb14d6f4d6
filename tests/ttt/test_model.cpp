// The hybrid stack: causality of the whole model, padding inside the TTT branch, multi-stream
// inputs, and the refusal of non-causal TTT in a causal stack (docs/spec/MOSHI_SPEC.md).
#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "autograd/engine.h"
#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "core/allocator.h"
#include "core/error.h"
#include "core/memory_ledger.h"
#include "nn/policy.h"
#include "nn/precision.h"
#include "ttt/model.h"

namespace ttt {
namespace {

ModelConfig small_model() {
  ModelConfig c;
  c.width = 32;
  c.num_layers = 3;
  c.num_heads = 4;
  c.ffn_hidden = 48;
  c.hybrid_layers = {0, -1};
  c.text_vocab = 20;
  c.audio_streams = 2;
  c.audio_vocab = 9;
  c.ttt.variant = TTTVariant::mlp;
  c.ttt.heads = 4;
  c.ttt.mlp_expansion = 2;
  c.ttt.mini_batch_size = 4;
  c.gate_init = 0.8;  // a visible TTT branch
  return c;
}

Tensor tokens(int64_t B, int64_t S, const ModelConfig& c, uint64_t seed) {
  Generator gen(seed);
  std::vector<double> u = rand({B, S, c.num_streams()}, gen, DType::f64).to_vector<double>();
  for (size_t i = 0; i < u.size(); ++i)
    u[i] = std::floor(u[i] * static_cast<double>(c.vocab(static_cast<int64_t>(i) % c.num_streams())));
  return from_vector(u, {B, S, c.num_streams()}, DType::i64);
}

double max_diff(const Tensor& a, const Tensor& b) {
  auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::fabs(x[i] - y[i]));
  return m;
}

TEST(HybridLM, WholeModelIsCausal) {
  ModelConfig c = small_model();
  Generator gen(1);
  HybridLM model(c, gen);
  model.to_dtype(DType::f64);
  const int64_t S = 11;  // not a multiple of the TTT mini-batch: the branch pads inside
  Tensor x = tokens(2, S, c, 2);
  std::vector<Tensor> base = model.forward(x);
  for (int64_t t : {0, 3, 4, 7, 9}) {
    std::vector<double> v = x.to_vector<double>();
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t p = t + 1; p < S; ++p)
        for (int64_t s = 0; s < c.num_streams(); ++s) {
          double& tok = v[(b * S + p) * c.num_streams() + s];
          tok = std::fmod(tok + 1, static_cast<double>(c.vocab(s)));
        }
    std::vector<Tensor> moved = model.forward(from_vector(v, x.shape(), DType::i64));
    for (int64_t s = 0; s < c.num_streams(); ++s) {
      EXPECT_LT(max_diff(slice(moved[s], 1, 0, t + 1), slice(base[s], 1, 0, t + 1)), 1e-12) << "stream " << s << " t=" << t;
      EXPECT_GT(max_diff(slice(moved[s], 1, t + 1, S), slice(base[s], 1, t + 1, S)), 1e-6) << "stream " << s << " t=" << t;
    }
  }
}

TEST(Attention, SlidingWindowSeesOnlyRecentSteps) {
  Generator gen(9);
  nn::MultiHeadAttention attn(16, 2, /*context=*/3, 10000.0, /*causal=*/true, gen);
  attn.to_dtype(DType::f64);
  Tensor x = to_dtype(randn({1, 10, 16}, gen), DType::f64);
  Tensor y = attn.forward(x);
  // changing step 2 may only move outputs 2, 3, 4 (steps within 3 of it, and not before it)
  std::vector<double> v = x.to_vector<double>();
  for (int64_t c = 0; c < 16; ++c) v[2 * 16 + c] += 1.0;
  Tensor moved = attn.forward(from_vector(v, x.shape(), DType::f64));
  for (int64_t t = 0; t < 10; ++t) {
    const double diff = max_diff(slice(y, 1, t, t + 1), slice(moved, 1, t, t + 1));
    if (t >= 2 && t <= 4)
      EXPECT_GT(diff, 1e-9) << "step " << t;
    else
      EXPECT_LT(diff, 1e-12) << "step " << t;
  }
}

// Finite differences through whole blocks: every parameter and the input, in f64.
TEST(Blocks, GradcheckAttentionSwiGLUAndAHybridLayer) {
  auto check = [](nn::Module& m, const std::function<Tensor(const Tensor&)>& f, const Shape& in_shape, const char* what) {
    m.to_dtype(DType::f64);
    Generator gen(13);
    std::vector<Tensor> inputs{to_dtype(randn(in_shape, gen), DType::f64).set_requires_grad(true)};
    for (auto& [n, t] : m.named_parameters()) inputs.push_back(t);
    GradcheckResult r = gradcheck([&](const std::vector<Tensor>& in) { return f(in[0]); }, inputs);
    EXPECT_TRUE(r.ok) << what << ": " << r.report;
  };
  Generator gen(12);
  nn::MultiHeadAttention attn(8, 2, 3, 10000.0, true, gen);
  check(
      attn, [&](const Tensor& x) { return attn.forward(x); }, {2, 5, 8}, "attention");
  nn::SwiGLU ffn(8, 6, gen);
  check(
      ffn, [&](const Tensor& x) { return ffn.forward(x); }, {2, 3, 8}, "swiglu");
  ModelConfig c = small_model();
  c.width = 8;
  c.num_heads = 2;
  c.ffn_hidden = 6;
  c.ttt.heads = 2;
  c.ttt.mini_batch_size = 2;
  TransformerLayer layer(c, /*hybrid=*/true, gen, Device::cpu());
  check(
      layer, [&](const Tensor& x) { return layer.forward(x, {}); }, {1, 5, 8}, "hybrid layer");
}

TEST(HybridLM, PaddingInsideTheTTTBranchNeverReachesRealPositions) {
  // The first 9 steps of an 11-step input (both padded to 12 inside TTT) give the outputs of a
  // 9-step input alone.
  ModelConfig c = small_model();
  Generator gen(3);
  HybridLM model(c, gen);
  model.to_dtype(DType::f64);
  Tensor x = tokens(1, 11, c, 4);
  std::vector<Tensor> full = model.forward(x), part = model.forward(slice(x, 1, 0, 9));
  for (int64_t s = 0; s < c.num_streams(); ++s) EXPECT_LT(max_diff(slice(full[s], 1, 0, 9), part[s]), 1e-12);
}

TEST(HybridLM, LossTrainsEveryStreamAndIgnoresPadding) {
  ModelConfig c = small_model();
  c.stream_weights = {2.0, 1.0, 0.5};
  Generator gen(5);
  HybridLM model(c, gen);
  Tensor x = tokens(2, 8, c, 6), y = tokens(2, 8, c, 7);
  auto loss = model.loss(x, y);
  double expect =
      (2.0 * loss.per_stream[0].item<double>() + loss.per_stream[1].item<double>() + 0.5 * loss.per_stream[2].item<double>()) /
      3.5;
  EXPECT_NEAR(loss.total.item<double>(), expect, 1e-5);
  backward(loss.total);
  EXPECT_TRUE(nn::audit_gradient_flow(model).empty()) << nn::format_gradient_flow(nn::audit_gradient_flow(model));
  // every target set to the pad id: nothing to predict, loss 0
  Tensor pads = full({2, 8, 3}, 0.0, DType::i64);
  std::vector<double> pv(2 * 8 * 3);
  for (size_t i = 0; i < pv.size(); ++i) pv[i] = static_cast<double>(c.pad_id(static_cast<int64_t>(i % 3)));
  EXPECT_EQ(model.loss(x, from_vector(pv, {2, 8, 3}, DType::i64)).total.item<double>(), 0.0);
}

// model.attention_recompute reaches every attention module, and the loss and gradients stay those of
// the model that keeps the attention weights.
TEST(HybridLM, AttentionRecomputeReachesEveryLayerAndChangesNothingElse) {
  std::vector<std::vector<double>> grads(2);
  std::vector<double> losses;
  for (bool recompute : {false, true}) {
    ModelConfig c = small_model();
    c.attention_recompute = recompute;
    Generator gen(5);
    HybridLM model(c, gen);
    int attention_modules = 0;
    for (const auto& [name, m] : model.named_modules())
      if (auto* a = dynamic_cast<const nn::MultiHeadAttention*>(m)) {
        EXPECT_EQ(a->recompute_weights, recompute) << name;
        ++attention_modules;
      }
    EXPECT_EQ(attention_modules, c.num_layers);
    Tensor loss = model.loss(tokens(2, 8, c, 6), tokens(2, 8, c, 7)).total;
    backward(loss);
    losses.push_back(loss.item<double>());
    for (auto& [name, p] : model.named_parameters())
      for (double v : p.grad().to_vector<double>()) grads[recompute].push_back(v);
  }
  EXPECT_NEAR(losses[1], losses[0], 1e-6 * std::abs(losses[0]));
  ASSERT_EQ(grads[0].size(), grads[1].size());
  for (size_t i = 0; i < grads[0].size(); ++i) ASSERT_NEAR(grads[1][i], grads[0][i], 1e-5) << "gradient entry " << i;
}

// The bf16 mode (nn/precision.h): activations and logits in bf16, the loss and every parameter's
// gradient in f32, the TTT branch in f32 inside; loss and gradients close to the f32 model's.
TEST(HybridLM, Bf16ActivationsKeepF32WeightsAndGradients) {
  std::vector<std::vector<double>> grads(2);
  std::vector<double> losses;
  for (DType activations : {DType::f32, DType::bf16}) {
    const ModelConfig c = small_model();
    Generator gen(5);
    HybridLM model(c, gen);
    nn::ActivationScope scope(activations);
    Tensor in = tokens(2, 8, c, 6);
    EXPECT_EQ(model.forward(in)[0].dtype(), activations);
    auto layer = model.layers->at<TransformerLayer>(0);
    Tensor h = to_dtype(randn({2, 8, c.width}, gen), activations);
    EXPECT_EQ(layer->ttt->forward(h).dtype(), activations);
    Tensor loss = model.loss(in, tokens(2, 8, c, 7)).total;
    EXPECT_EQ(loss.dtype(), DType::f32);
    backward(loss);
    losses.push_back(loss.item<double>());
    for (auto& [name, p] : model.named_parameters()) {
      ASSERT_TRUE(p.grad().defined()) << name;
      EXPECT_EQ(p.dtype(), DType::f32) << name;
      EXPECT_EQ(p.grad().dtype(), DType::f32) << name;
      for (double v : p.grad().to_vector<double>()) grads[activations == DType::bf16].push_back(v);
    }
  }
  EXPECT_NEAR(losses[1], losses[0], 1e-2 * std::abs(losses[0]));
  EXPECT_NE(losses[1], losses[0]);  // the bf16 run did round something
  double diff = 0, norm = 0;
  for (size_t i = 0; i < grads[0].size(); ++i) {
    diff += (grads[1][i] - grads[0][i]) * (grads[1][i] - grads[0][i]);
    norm += grads[0][i] * grads[0][i];
  }
  EXPECT_LT(std::sqrt(diff / norm), 3e-2);  // the gradient as a whole, relative
}

TEST(HybridLM, CausalStackRefusesNonCausalTTT) {
  ModelConfig c = small_model();
  c.ttt.minibatch_mode = MiniBatchMode::full;
  Generator gen(1);
  try {
    HybridLM model(c, gen);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a causal stack needs ttt.minibatch_mode: causal"), std::string::npos) << e.what();
  }
  c.ttt.minibatch_mode = MiniBatchMode::causal;
  c.bidirectional = true;
  EXPECT_THROW(HybridLM(c, gen), Error);
  c.causal = false;  // video-style use may have both
  c.ttt.minibatch_mode = MiniBatchMode::full;
  HybridLM ok(c, gen);
  EXPECT_NE(ok.layers->at<TransformerLayer>(0)->backward_ssm_gating, nullptr);
  ok.forward(tokens(1, 6, c, 1));
}

}  // namespace
}  // namespace ttt

namespace ttt {
namespace {

// model.checkpoint_layers, model.checkpoint_ttt and model.checkpoint_ttt_layers: the same gradient
// for every parameter (each layer, each TTT branch or the listed one runs again in backward), and
// on the meta device a smaller activation peak. Also over a frozen stem (embeddings and the first layer not trained), where the
// first trainable layer's input needs no gradient: it must be checkpointed all the same.
TEST(HybridLM, CheckpointedLayersOrTttBranchesGiveTheSameGradientsWithLessMemory) {
  enum Mode { plain, layers, ttt_branches, last_ttt_branch };
  for (const bool frozen_stem : {false, true}) {
    ModelConfig c = small_model();
    c.hybrid_layers = {1, -1};
    auto run = [&](Mode mode, Device device) {
      c.checkpoint_layers = mode == layers;
      c.checkpoint_ttt = mode == ttt_branches;
      c.checkpoint_ttt_layers = mode == last_ttt_branch ? std::vector<int64_t>{-1} : std::vector<int64_t>{};
      Generator gen(5);
      HybridLM model(c, gen, device);
      if (!device.is_meta()) model.to_dtype(DType::f64);
      if (frozen_stem)
        for (auto& [name, p] : model.named_parameters())
          if (name.rfind("emb.", 0) == 0 || name.rfind("layers.0.", 0) == 0) p.set_requires_grad(false);
      reset_meta_peak();
      const uint64_t before = meta_memory_stats().current_bytes;
      const Tensor in = device.is_meta() ? empty({2, 16, 3}, DType::i64, device) : tokens(2, 16, c, 6);
      const Tensor tg = device.is_meta() ? in : tokens(2, 16, c, 7);
      Tensor loss;
      int64_t ttt_kept = 0;  // what the TTT layers' forwards keep for backward (core/memory_ledger.h)
      {
        memory_ledger::Recording ledger;
        loss = model.loss(in, tg).total;
        for (const memory_ledger::Entry& e : ledger.entries())
          if (e.where == "HybridLayer > TTTMLP") ttt_kept = e.bytes;
      }
      backward(loss);
      std::vector<std::vector<double>> grads;
      if (!device.is_meta())
        for (auto& [name, p] : model.named_parameters())
          grads.push_back(p.grad().defined() ? p.grad().to_vector<double>() : std::vector<double>{});
      return std::make_tuple(grads, meta_memory_stats().peak_bytes - before, ttt_kept);
    };
    const auto reference = run(plain, Device::cpu());
    const auto [unused, plain_peak, plain_ttt_kept] = run(plain, Device::meta());
    for (const Mode mode : {layers, ttt_branches, last_ttt_branch}) {
      const char* names[] = {"", "checkpoint_layers", "checkpoint_ttt", "checkpoint_ttt_layers [-1]"};
      SCOPED_TRACE(std::string(names[mode]) + (frozen_stem ? ", frozen stem" : ""));
      const auto& want = std::get<0>(reference);
      const auto got = std::get<0>(run(mode, Device::cpu()));
      ASSERT_EQ(want.size(), got.size());
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_EQ(want[i].size(), got[i].size()) << i;
        for (size_t j = 0; j < want[i].size(); ++j) EXPECT_NEAR(want[i][j], got[i][j], 1e-12) << i;
      }
      const auto [grads, peak, ttt_kept] = run(mode, Device::meta());
      EXPECT_LT(peak, plain_peak);
      if (mode == last_ttt_branch) {  // one of two alike branches: about half
        EXPECT_GT(ttt_kept, plain_ttt_kept * 4 / 10) << ttt_kept << " of " << plain_ttt_kept;
        EXPECT_LT(ttt_kept, plain_ttt_kept * 6 / 10) << ttt_kept << " of " << plain_ttt_kept;
      } else {
        // both TTT branches checkpointed (the first one too, over the frozen stem): they keep next
        // to nothing of what they kept
        EXPECT_LT(ttt_kept, plain_ttt_kept / 10) << ttt_kept << " of " << plain_ttt_kept;
      }
    }
  }
}

// The two are alternatives: checkpoint_layers already runs the TTT branches again.
TEST(HybridLM, CheckpointTttAndCheckpointLayersAreRefusedTogether) {
  ModelConfig c = small_model();
  c.checkpoint_layers = c.checkpoint_ttt = true;
  Generator gen(1);
  try {
    HybridLM model(c, gen, Device::meta());
    ADD_FAILURE() << "both were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("give one of them"), std::string::npos) << e.what();
  }
}

// checkpoint_ttt_layers names layers with a TTT branch, and is not given beside checkpoint_ttt or
// checkpoint_layers (which already cover it).
TEST(HybridLM, CheckpointTttLayersNamesABranchAndStandsAlone) {
  ModelConfig base = small_model();  // three layers
  base.hybrid_layers = {1, -1};
  auto problem = [&](auto edit) {
    ModelConfig c = base;
    edit(c);
    Generator gen(1);
    try {
      HybridLM model(c, gen, Device::meta());
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(problem([](ModelConfig& c) { c.checkpoint_ttt_layers = {1}; }), "");
  EXPECT_EQ(problem([](ModelConfig& c) { c.checkpoint_ttt_layers = {-1}; }), "");  // the last layer, 2
  EXPECT_NE(
      problem([](ModelConfig& c) { c.checkpoint_ttt_layers = {0}; }).find("checkpoint_ttt_layers: layer 0 has no TTT branch"),
      std::string::npos);
  EXPECT_NE(problem([](ModelConfig& c) { c.checkpoint_ttt_layers = {7}; }).find("layer 7 has no TTT branch"), std::string::npos);
  EXPECT_NE(problem([](ModelConfig& c) {
              c.checkpoint_ttt_layers = {1};
              c.checkpoint_ttt = true;
            }).find("give one of them"),
            std::string::npos);
  EXPECT_NE(problem([](ModelConfig& c) {
              c.checkpoint_ttt_layers = {1};
              c.checkpoint_layers = true;
            }).find("give one of them"),
            std::string::npos);
}

}  // namespace
}  // namespace ttt
