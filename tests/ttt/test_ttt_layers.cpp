// The behaviours of docs/spec/TTT_SPEC.md section 8, for every variant, through the public entry point.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "nn/init.h"
#include "nn/optim/adamw.h"
#include "nn/policy.h"
#include "tests/tensor_compare.h"
#include "ttt/gating.h"
#include "ttt/ttt_variants.h"

namespace ttt {
namespace {

TTTConfig tiny(const std::string& variant, const std::string& mode = "causal") {
  TTTConfig c;
  c.variant = parse_enum<TTTVariant>(variant);
  c.width = 8;
  c.heads = 2;
  c.mlp_expansion = 2;
  if (variant == "multilayer") c.mlp_dims = {4, 6, 5, 4};
  c.mini_batch_size = 3;
  c.ttt_base_lr = variant == "linear" ? 1.0 : 0.5;
  c.minibatch_mode = parse_enum<MiniBatchMode>(mode);
  return c;
}

const std::vector<std::string> kVariants = {"linear", "mlp", "multilayer"};

// A layer whose inner initial weights are larger than the default 0.02 init, so that the inner
// loop visibly matters in comparisons.
std::shared_ptr<TTTBase> build(const TTTConfig& c, uint64_t seed = 1, DType dtype = DType::f32) {
  Generator gen(seed);
  auto layer = make_ttt(c, gen);
  for (auto& [name, t] : layer->named_parameters())
    if (name.rfind("W", 0) == 0 || name.rfind("weights.", 0) == 0) t.set_data(nn::init::normal(t.shape(), 0, 0.5, gen));
  layer->to_dtype(dtype);
  return layer;
}

Tensor input(int64_t B, int64_t L, int64_t C, uint64_t seed, DType dtype = DType::f32) {
  Generator gen(seed);
  return to_dtype(randn({B, L, C}, gen), dtype);
}

std::vector<Tensor> grads_of(const nn::Module& m) {
  std::vector<Tensor> g;
  for (auto& [n, t] : m.named_parameters()) g.push_back(t.grad());
  return g;
}

// Forward and backward through make_ttt for every variant and mode (never construction alone).
TEST(TttLayer, ForwardAndBackwardThroughTheFactory) {
  for (const auto& v : kVariants)
    for (const char* mode : {"causal", "full"}) {
      auto layer = build(tiny(v, mode));
      Tensor x = input(2, 7, 8, 3).set_requires_grad(true);
      Tensor y = layer->forward(x, {});
      ASSERT_EQ(y.shape(), (Shape{2, 7, 8})) << v;
      backward(sum(square(y)));
      EXPECT_TRUE(x.grad().defined());
      auto problems = nn::audit_gradient_flow(*layer);
      EXPECT_TRUE(problems.empty()) << v << " " << mode << ": " << nn::format_gradient_flow(problems);
    }
}

TEST(TttLayer, DualFormEqualsPrimalForm) {
  for (const auto& v : kVariants)
    for (const char* mode : {"causal", "full"}) {
      TTTConfig dual = tiny(v, mode), primal = dual;
      primal.scan_form = ScanForm::primal;
      auto a = build(dual, 4, DType::f64), b = build(primal, 4, DType::f64);
      Tensor x = input(2, 9, 8, 5, DType::f64);
      EXPECT_LT(testing::max_abs_diff(a->forward(x), b->forward(x)), 1e-12) << v << " " << mode;
      for (size_t i = 0; i < a->inner_state().size(); ++i)
        EXPECT_LT(testing::max_abs_diff(a->inner_state()[i].second, b->inner_state()[i].second), 1e-12) << v;
    }
}

TEST(TttLayer, ResultDoesNotDependOnCheckpointGroup) {
  // Recomputation runs the same ops on the same values, so outputs agree exactly; gradients that
  // reach a shared parameter from several groups are summed in another order, so f64 and 1e-12.
  for (const auto& v : kVariants) {
    Tensor x = input(2, 12, 8, 6, DType::f64);  // 4 mini-batches
    std::vector<Tensor> ref_grads;
    Tensor ref_out, ref_xgrad;
    for (int64_t k : {0, 1, 2, 3}) {
      TTTConfig c = tiny(v);
      c.scan_checkpoint_group = k;
      auto layer = build(c, 7, DType::f64);
      Tensor xi = clone_data(x).set_requires_grad(true);
      Tensor y = layer->forward(xi);
      backward(sum(mul(y, y)));
      if (k == 0) {
        ref_out = y.detach();
        ref_xgrad = xi.grad();
        ref_grads = grads_of(*layer);
        continue;
      }
      EXPECT_EQ(testing::max_abs_diff(y, ref_out), 0.0) << v << " k=" << k;
      EXPECT_LT(testing::max_abs_diff(xi.grad(), ref_xgrad), 1e-12) << v << " k=" << k;
      auto g = grads_of(*layer);
      for (size_t i = 0; i < g.size(); ++i)
        EXPECT_LT(testing::max_abs_diff(g[i], ref_grads[i]), 1e-12) << v << " k=" << k << " param " << i;
    }
  }
}

TEST(TttLayer, ChunkedStreamingEqualsWholeSequence) {
  for (const auto& v : kVariants) {
    auto layer = build(tiny(v), 8, DType::f64);
    Tensor x = input(2, 12, 8, 9, DType::f64);
    Tensor whole = layer->forward(x);
    auto whole_state = layer->inner_state();
    Tensor first = layer->forward(slice(x, 1, 0, 6));
    SeqMetadata next;
    next.position_offset = 6;
    next.continue_from_state = true;
    layer->set_inner_state(layer->inner_state());
    Tensor second = layer->forward(slice(x, 1, 6, 12), next);
    EXPECT_LT(testing::max_abs_diff(cat({first, second}, 1), whole), 1e-12) << v;
    for (size_t i = 0; i < whole_state.size(); ++i)
      EXPECT_LT(testing::max_abs_diff(layer->inner_state()[i].second, whole_state[i].second), 1e-12) << v;
    EXPECT_FALSE(layer->inner_state()[0].second.requires_grad()) << "saved state must be detached";
  }
}

TEST(TttLayer, CausalModeIsCausal) {
  for (const auto& v : kVariants) {
    auto layer = build(tiny(v, "causal"), 10, DType::f64);
    Tensor x = input(1, 10, 8, 11, DType::f64);
    for (int64_t t : {0, 2, 4, 8}) {  // perturb every position after t (inside and across mini-batches)
      std::vector<double> xv = x.to_vector<double>();
      for (int64_t p = t + 1; p < 10; ++p)
        for (int64_t c = 0; c < 8; ++c) xv[p * 8 + c] += 3.0;
      Tensor y0 = layer->forward(x), y1 = layer->forward(from_vector(xv, x.shape(), DType::f64));
      EXPECT_LT(testing::max_abs_diff(slice(y0, 1, 0, t + 1), slice(y1, 1, 0, t + 1)), 1e-12) << v << " t=" << t;
      EXPECT_GT(testing::max_abs_diff(slice(y0, 1, t + 1, 10), slice(y1, 1, t + 1, 10)), 1e-3) << v << " t=" << t;
    }
  }
}

TEST(TttLayer, FullModeSeesTheWholeMiniBatch) {
  // The property causal mode must not have: in full mode a later token of the same mini-batch
  // changes an earlier token's output.
  auto layer = build(tiny("mlp", "full"), 10, DType::f64);
  Tensor x = input(1, 6, 8, 11, DType::f64);
  std::vector<double> xv = x.to_vector<double>();
  for (int64_t c = 0; c < 8; ++c) xv[2 * 8 + c] += 3.0;  // token 2, same mini-batch as token 0
  Tensor y0 = layer->forward(x), y1 = layer->forward(from_vector(xv, x.shape(), DType::f64));
  EXPECT_GT(testing::max_abs_diff(slice(y0, 1, 0, 1), slice(y1, 1, 0, 1)), 1e-6);
}

TEST(TttLayer, PaddingNeverChangesRealOutputs) {
  for (const char* mode : {"causal", "full"}) {
    auto layer = build(tiny("mlp", mode), 12, DType::f64);
    Tensor x = input(2, 7, 8, 13, DType::f64);  // 7 = 2 mini-batches + 1 token: padded to 9 inside
    Tensor y7 = layer->forward(x);
    auto state7 = layer->inner_state();
    // the same 7 tokens followed by junk marked as padding
    Tensor junk = cat({x, input(2, 2, 8, 14, DType::f64)}, 1);
    SeqMetadata meta;
    meta.valid_length = 7;
    Tensor y9 = layer->forward(junk, meta);
    EXPECT_LT(testing::max_abs_diff(slice(y9, 1, 0, 7), y7), 1e-12) << mode;
    for (size_t i = 0; i < state7.size(); ++i)
      EXPECT_LT(testing::max_abs_diff(layer->inner_state()[i].second, state7[i].second), 1e-12) << mode;
  }
}

TEST(TttLayer, TwoLayerMultiLayerEqualsMLP) {
  TTTConfig mlp = tiny("mlp"), multi = tiny("multilayer");
  multi.mlp_dims = {4, 8, 4};  // = mlp_expansion 2 * d 4
  multi.ttt_base_lr = mlp.ttt_base_lr;
  auto a = build(mlp, 15, DType::f64), b = build(multi, 16, DType::f64);
  std::vector<nn::NamedTensor> state;
  for (auto& [name, t] : a->state_dict()) {
    std::string n = name == "W1"   ? "weights.0"
                    : name == "W2" ? "weights.1"
                    : name == "b1" ? "biases.0"
                    : name == "b2" ? "biases.1"
                                   : name;
    state.emplace_back(n, t);
  }
  b->load_state_dict(state);
  Tensor x = input(2, 9, 8, 17, DType::f64);
  EXPECT_LT(testing::max_abs_diff(a->forward(x), b->forward(x)), 1e-13);
}

TEST(TttLayer, ZeroBaseLrReducesToTheInitialInnerModel) {
  for (const auto& v : kVariants) {
    TTTConfig c = tiny(v);
    c.ttt_base_lr = 0;
    auto layer = build(c, 18, DType::f64);
    Tensor x = input(1, 6, 8, 19, DType::f64);
    // By hand: Q -> L2-norm -> RoPE; out = Q + LN(g0(Q)); merge heads; post_norm; wo.
    Tensor q = permute(reshape(layer->wq->forward(x), {1, 6, 2, 4}), {0, 2, 1, 3});
    q = rope(l2_normalize(q), arange(6, DType::i64), c.rope_theta);
    Tensor h = q;
    const auto& inner = layer->named_parameters();
    std::vector<Tensor> w, b;
    for (auto& [n, t] : inner) {
      if (n == "W1" || n == "W2" || n.rfind("weights.", 0) == 0) w.push_back(t);
      if (n == "b1" || n == "b2" || n.rfind("biases.", 0) == 0) b.push_back(t);
    }
    for (size_t l = 0; l < w.size(); ++l) {
      h = add(matmul(h, w[l]), b[l]);
      if (l + 1 < w.size()) h = gelu(h);
    }
    Tensor out = add(q, head_layer_norm(h, layer->ttt_norm_weight, layer->ttt_norm_bias, 1e-6));
    Tensor expect = layer->wo->forward(layer->post_norm->forward(reshape(permute(out, {0, 2, 1, 3}), {1, 6, 8})));
    EXPECT_LT(testing::max_abs_diff(layer->forward(x), expect), 1e-12) << v;
  }
}

TEST(TttLayer, FrozenInnerWeightsStillEvolveInTheScan) {
  auto layer = std::dynamic_pointer_cast<TTTMultiLayer>(build(tiny("multilayer"), 20));
  ASSERT_NE(layer, nullptr);
  nn::RequiresGradPolicy policy;
  policy.rules.push_back({{"**.weights.*", ""}, false});
  policy.rules.push_back({{"**.biases.*", ""}, false});
  nn::apply_policy(*layer, policy);
  std::vector<std::vector<float>> before;
  for (size_t i = 0; i < layer->weights->size(); ++i) before.push_back((*layer->weights)[i].to_vector<float>());
  nn::AdamW opt(*layer, {});
  Tensor x = input(2, 6, 8, 21);
  backward(sum(square(layer->forward(x))));
  opt.step(0.1);
  for (size_t i = 0; i < layer->weights->size(); ++i) {
    EXPECT_EQ((*layer->weights)[i].to_vector<float>(), before[i]) << "the optimizer moved frozen weights." << i;
    // the inner loop still updated them along the sequence
    EXPECT_GT(testing::max_abs_diff(layer->inner_state()[2 * i].second, unsqueeze((*layer->weights)[i], 0) * ones({2, 1, 1, 1})),
              1e-6);
  }
}

// f64 finite differences of every parameter and of the input, for each variant and mode.
TEST(TttLayer, GradcheckEveryParameterAndInput) {
  for (const auto& v : kVariants)
    for (const char* mode : {"causal", "full"}) {
      TTTConfig c = tiny(v, mode);
      c.mini_batch_size = 2;
      auto layer = build(c, 22, DType::f64);
      std::vector<Tensor> inputs{input(1, 5, 8, 23, DType::f64).set_requires_grad(true)};
      for (auto& [n, t] : layer->named_parameters()) inputs.push_back(t);
      GradcheckResult r = gradcheck([&](const std::vector<Tensor>& in) { return layer->forward(in[0]); }, inputs);
      EXPECT_TRUE(r.ok) << v << " " << mode << ": " << r.report;
    }
}

// A variant cannot be driven except through forward(): ttt_scan is protected.
template <class T>
concept CanCallScanFromOutside = requires(T& t, const ScanInputs& in) {
  t.ttt_scan(in);
};
static_assert(!CanCallScanFromOutside<TTTLinear> && !CanCallScanFromOutside<TTTMLP> && !CanCallScanFromOutside<TTTMultiLayer> &&
              !CanCallScanFromOutside<TTTBase>);

TEST(TttLayer, BadConfigsAreClearErrors) {
  auto expect_error = [](TTTConfig c, const std::string& fragment) {
    Generator gen(1);
    try {
      make_ttt(c, gen);
      FAIL() << "expected an error containing " << fragment;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  TTTConfig c = tiny("mlp");
  // options are enums, parsed once from their names: an unknown name fails there
  try {
    parse_enum<TTTVariant>("mlp2");
    ADD_FAILURE() << "an unknown variant parsed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("variant 'mlp2' is unknown (expected linear, mlp or multilayer)"), std::string::npos)
        << e.what();
  }
  c = tiny("mlp");
  c.width = 10;
  c.heads = 3;
  expect_error(c, "width 10 is not divisible by heads 3");
  c = tiny("multilayer");
  c.mlp_dims = {4, 16, 8};
  expect_error(c, "mlp_dims must start and end at the head dim 4");
  c = tiny("mlp");
  try {
    parse_enum<MiniBatchMode>("bidirectional");
    ADD_FAILURE() << "an unknown minibatch_mode parsed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("minibatch_mode 'bidirectional' is unknown"), std::string::npos) << e.what();
  }
  Generator gen(1);
  EXPECT_THROW(TTTLinear(tiny("mlp"), gen), Error);  // a variant built with another variant's config
  auto layer = build(tiny("mlp"));
  EXPECT_THROW(layer->forward(zeros({2, 5, 6})), Error);
  SeqMetadata cont;
  cont.continue_from_state = true;
  EXPECT_THROW(layer->forward(zeros({2, 6, 8}), cont), Error);  // no state given
}

// docs/spec/TTT_SPEC.md section 7, on the meta device: C = 4096, H = 32, multilayer [128, 512, 512, 128],
// minibatch_mode full, lr_gate per_head.
TEST(TttLayer, ParameterCountsReproduceTheSpecTable) {
  TTTConfig c;
  c.variant = TTTVariant::multilayer;
  c.width = 4096;
  c.heads = 32;
  c.mlp_dims = {128, 512, 512, 128};
  c.minibatch_mode = MiniBatchMode::full;
  Generator gen(1);
  auto layer = make_ttt(c, gen, Device::meta());
  auto count = [&](const std::string& glob) {
    int64_t n = 0;
    for (auto& [name, t] : layer->named_parameters())
      if (nn::glob_match(glob, name)) n += t.numel();
    return n;
  };
  EXPECT_EQ(count("wq.*") + count("wk.*") + count("wv.*") + count("wo.*"), 67125248);  // Q, K, V, O with bias
  EXPECT_EQ(count("learnable_ttt_lr_*"), 4128);                                        // inner-lr gate
  EXPECT_EQ(count("ttt_norm_*"), 8192);
  EXPECT_EQ(count("post_norm.*"), 8192);
  EXPECT_EQ(count("weights.0") + count("biases.0"), 2113536);
  EXPECT_EQ(count("weights.1") + count("biases.1"), 8404992);
  EXPECT_EQ(count("weights.2") + count("biases.2"), 2101248);
  EXPECT_EQ(count("weights.*") + count("biases.*"), 12619776);
  EXPECT_EQ(layer->num_parameters() - count("weights.*") - count("biases.*"), 67145760);  // TTTBase total
  SSMGating forward_gate(4096, 0.1, 0, Device::meta()), backward_gate(4096, 0.1, 0, Device::meta());
  const int64_t hybrid = layer->num_parameters() + forward_gate.num_parameters() + backward_gate.num_parameters();
  EXPECT_EQ(hybrid, 79773728);
  EXPECT_EQ(5 * hybrid, 398868640);
  c.minibatch_mode = MiniBatchMode::causal;  // adds the token-position bias, b per layer
  c.mini_batch_size = 64;
  EXPECT_EQ(make_ttt(c, gen, Device::meta())->num_parameters(), layer->num_parameters() + 64);
}

}  // namespace
}  // namespace ttt
