// requires_grad policies, the parameter table, the gradient-flow audit, and the regression tests
// for the two failures docs/spec/DESIGN.md describes.
#include <gtest/gtest.h>

#include "autograd/ops.h"
#include "nn/containers.h"
#include "nn/init.h"
#include "nn/layers.h"
#include "nn/optim/adamw.h"
#include "nn/policy.h"

namespace ttt::nn {
namespace {

TEST(Glob, Segments) {
  EXPECT_TRUE(glob_match("layers.*.ttt.W1", "layers.3.ttt.W1"));
  EXPECT_FALSE(glob_match("layers.*.ttt.W1", "layers.3.4.ttt.W1"));
  EXPECT_TRUE(glob_match("**.bias", "bias"));
  EXPECT_TRUE(glob_match("**.bias", "a.b.bias"));
  EXPECT_FALSE(glob_match("**.bias", "a.bias.x"));
  EXPECT_TRUE(glob_match("**", "anything.at.all"));
  EXPECT_TRUE(glob_match("**.ttt.**", "layers.2.ttt.weights.0"));
  EXPECT_TRUE(glob_match("ttt_norm_*", "ttt_norm_weight"));
  EXPECT_FALSE(glob_match("ttt_norm_*", "post_norm.weight"));
  EXPECT_TRUE(glob_match("a.**.z", "a.z"));
}

// A stand-in for a hybrid layer holding a multi-layer inner MLP in ParameterLists, the structure
// that was silently frozen in the source project (the TTT layer itself arrives with its own issue).
class InnerMLP : public Module {
 public:
  InnerMLP(std::vector<int64_t> dims, int64_t heads, Generator& gen) : Module("TTTMultiLayer") {
    weights = register_module("weights", std::make_shared<ParameterList>());
    biases = register_module("biases", std::make_shared<ParameterList>());
    for (size_t i = 0; i + 1 < dims.size(); ++i) {
      weights->append(init::normal({heads, dims[i], dims[i + 1]}, 0, 0.1, gen));
      biases->append(init::normal({heads, 1, dims[i + 1]}, 0, 0.1, gen));
    }
    wq = register_module("wq", std::make_shared<Linear>(heads * dims[0], heads * dims[0], true, gen));
  }
  // Uses every weight and bias: per head, x -> gelu(x W0 + b0) ... W_last + b_last.
  Tensor forward(const Tensor& x) const {
    Tensor h = wq->forward(x);                                           // [B, H*d]
    h = reshape(h, {x.size(0), weights->operator[](0).size(0), 1, -1});  // [B, H, 1, d]
    for (size_t i = 0; i < weights->size(); ++i) {
      h = add(matmul(h, (*weights)[i]), (*biases)[i]);
      if (i + 1 < weights->size()) h = gelu(h);
    }
    return h;
  }
  std::shared_ptr<ParameterList> weights, biases;
  std::shared_ptr<Linear> wq;
};

class Hybrid : public Module {
 public:
  explicit Hybrid(Generator& gen) : Module("HybridLayer") {
    attn = register_module("attn", std::make_shared<Linear>(8, 8, false, gen));
    ttt = register_module("ttt", std::make_shared<InnerMLP>(std::vector<int64_t>{4, 16, 16, 4}, 2, gen));
    gate = register_parameter("gating_alpha", init::constant({8}, 0.1));
  }
  Tensor forward(const Tensor& x) const {
    Tensor y = reshape(ttt->forward(attn->forward(x)), {x.size(0), 8});
    return add(x, mul(tanh(gate), y));
  }
  std::shared_ptr<Linear> attn;
  std::shared_ptr<InnerMLP> ttt;
  Tensor gate;
};

RequiresGradPolicy train_only_ttt() {
  RequiresGradPolicy p;
  p.rules.push_back({{"**", ""}, false});
  p.rules.push_back({{"", "TTTMultiLayer"}, true});
  p.rules.push_back({{"gating_alpha", ""}, true});
  return p;
}

// docs/spec/DESIGN.md failure 1: weights.N / biases.N in ParameterLists must be trained.
TEST(Regression, MultiLayerInnerWeightsAreTrainedUnderAFreezePolicy) {
  Generator gen(3);
  Hybrid model(gen);
  RequiresGradPolicy policy = train_only_ttt();
  // hand count: inner 2*(4*16 + 16) + 2*(16*16 + 16) + 2*(16*4 + 4), wq 8*8 + 8, gate 8
  const int64_t expected = 2 * (64 + 16) + 2 * (256 + 16) + 2 * (64 + 4) + (64 + 8) + 8;
  policy.expected_trainable = expected;
  PolicyReport report = apply_policy(model, policy);
  EXPECT_EQ(report.trainable_elements, expected);
  EXPECT_EQ(model.num_parameters(true), expected);
  EXPECT_FALSE(model.attn->weight.requires_grad());

  std::vector<std::pair<std::string, std::vector<float>>> before;
  for (auto& [n, t] : model.named_parameters()) before.emplace_back(n, t.to_vector<float>());
  AdamW opt(model, AdamWOptions{});
  Tensor x = init::normal({3, 8}, 0, 1, gen);
  backward(sum(square(model.forward(x))));
  EXPECT_TRUE(audit_gradient_flow(model).empty()) << format_gradient_flow(audit_gradient_flow(model));
  opt.step(1e-2);
  auto after = model.named_parameters();
  for (size_t i = 0; i < after.size(); ++i) {
    const bool changed = after[i].second.to_vector<float>() != before[i].second;
    EXPECT_EQ(changed, after[i].second.requires_grad()) << after[i].first;
  }
  for (const char* n : {"ttt.weights.0", "ttt.weights.1", "ttt.weights.2", "ttt.biases.0", "ttt.biases.1", "ttt.biases.2"}) {
    bool found = false;
    for (auto& [name, t] : after)
      if (name == n) found = t.requires_grad() && t.grad().defined();
    EXPECT_TRUE(found) << n << " is not trainable or got no gradient";
  }
}

// docs/spec/DESIGN.md failure 2: a rule written for other names (w1, w2) must fail loudly.
TEST(Regression, RuleForOtherNamesFailsLoudly) {
  Generator gen(3);
  Hybrid model(gen);
  RequiresGradPolicy policy;
  policy.rules.push_back({{"**", ""}, false});
  policy.rules.push_back({{"**.w1", ""}, true});
  policy.rules.push_back({{"**.w2", ""}, true});
  try {
    apply_policy(model, policy);
    FAIL() << "a rule matching nothing must be an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("rule 1 (train name '**.w1') matches no parameter"), std::string::npos) << msg;
  }
  for (auto& [n, t] : model.named_parameters()) EXPECT_TRUE(t.requires_grad()) << "a failed policy changed " << n;
}

TEST(Policy, ExpectedCountMismatchPrintsTheTable) {
  Generator gen(3);
  Hybrid model(gen);
  RequiresGradPolicy policy = train_only_ttt();
  policy.expected_trainable = 12345;
  try {
    apply_policy(model, policy);
    FAIL() << "expected a count mismatch";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("config expects 12,345"), std::string::npos) << msg;
    EXPECT_NE(msg.find("module (kind)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("weights (ParameterList)"), std::string::npos) << msg;
  }
}

TEST(Policy, ReportSaysWhichRuleDecided) {
  Generator gen(3);
  Hybrid model(gen);
  PolicyReport r = apply_policy(model, train_only_ttt());
  for (const auto& d : r.params) {
    if (d.name == "attn.weight") {
      EXPECT_EQ(d.rule, 0);
    } else if (d.name == "ttt.weights.1") {
      EXPECT_EQ(d.rule, 1);
    } else if (d.name == "gating_alpha") {
      EXPECT_EQ(d.rule, 2);
    }
  }
  EXPECT_EQ(r.rules[0].params, static_cast<int64_t>(model.named_parameters().size()));
}

TEST(ParameterTable, TotalsReconcile) {
  Generator gen(3);
  Hybrid model(gen);
  apply_policy(model, train_only_ttt());
  std::string table = parameter_table(model, 2);
  const int64_t total = model.num_parameters(), trainable = model.num_parameters(true);
  auto commas = [](int64_t n) {
    std::string s = std::to_string(n), out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (i && (s.size() - i) % 3 == 0) out += ',';
      out += s[i];
    }
    return out;
  };
  EXPECT_NE(table.find("TOTAL"), std::string::npos) << table;
  const std::string total_line = table.substr(table.find("TOTAL"));
  EXPECT_NE(total_line.find(commas(total)), std::string::npos) << table;
  EXPECT_NE(total_line.find(commas(trainable)), std::string::npos) << table;
  EXPECT_NE(total_line.find(commas(total - trainable)), std::string::npos) << table;
  EXPECT_NE(table.find("weights (ParameterList)"), std::string::npos) << table;
  EXPECT_EQ(parameter_table(model, 0).find("weights (ParameterList)"), std::string::npos) << "depth 0 shows the root only";
}

TEST(GradientFlow, NamesUnusedParameters) {
  Generator gen(3);
  Hybrid model(gen);
  Tensor x = init::normal({3, 8}, 0, 1, gen);
  backward(sum(model.attn->forward(x)));  // only attn is in the loss path
  auto problems = audit_gradient_flow(model);
  ASSERT_FALSE(problems.empty());
  std::string text = format_gradient_flow(problems);
  EXPECT_NE(text.find("ttt.weights.0: no gradient"), std::string::npos) << text;
  EXPECT_EQ(text.find("attn.weight"), std::string::npos) << text;
  // a gradient that is exactly zero is reported too
  model.gate.set_grad(zeros({8}));
  EXPECT_NE(format_gradient_flow(audit_gradient_flow(model)).find("gating_alpha: gradient is all zeros"), std::string::npos);
}

}  // namespace
}  // namespace ttt::nn
