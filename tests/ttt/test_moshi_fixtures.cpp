// Parity with the official moshi package (tests/fixtures/moshi_*.safetensors, written by
// tools/reference/make_moshi_fixtures.py from moshi 0.2.13's LMModel): the temporal transformer,
// loaded through Moshi's checkpoint names (train/moshi_names.h), gives the package's text logits.
// The depformer (the audio logits and the loss) is not built yet.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "autograd/ops.h"
#include "core/device.h"
#include "nn/safetensors.h"
#include "tests/test_paths.h"
#include "train/moshi_names.h"
#include "ttt/model.h"

namespace ttt {
namespace {

struct MoshiFixture {
  nn::SafetensorsData data;
  nlohmann::json options;
  std::map<std::string, Tensor> tensors;
};

MoshiFixture load(const std::string& name) {
  MoshiFixture f;
  f.data = nn::load_safetensors(testing::source_dir() + "/tests/fixtures/" + name + ".safetensors");
  f.options = nlohmann::json::parse(f.data.metadata.at("options"));
  f.tensors = std::map<std::string, Tensor>(f.data.tensors.begin(), f.data.tensors.end());
  return f;
}

// Moshi's temporal transformer as a HybridLM without TTT layers: the gating's hidden width is 2/3
// of hidden_scale * dim, the norms' eps 1e-8 (rms_norm_f32), RoPE's period max_period.
ModelConfig temporal_config(const nlohmann::json& o) {
  ModelConfig c;
  c.width = o["dim"];
  c.num_layers = o["num_layers"];
  c.num_heads = o["num_heads"];
  c.ffn_hidden = static_cast<int64_t>(2.0 / 3.0 * o["hidden_scale"].get<double>() * c.width);
  c.text_vocab = o["text_card"];
  c.audio_streams = o["n_q"];
  c.audio_vocab = o["card"];
  c.context = o["context"];
  c.rope_theta = o["max_period"];
  c.norm_eps = 1e-8;
  c.causal = true;
  return c;
}

// The transformer's input as LMModel.forward builds it from codes [B, K, T]: each stream delayed
// by its delay (the initial token, the extra row, before its first token), one initial step in
// front, the last step dropped; returned as our tokens [B, T, K].
Tensor delayed_input(const Tensor& codes, const std::vector<int64_t>& delays, const ModelConfig& c) {
  const int64_t B = codes.size(0), K = codes.size(1), T = codes.size(2);
  const std::vector<int64_t> v = codes.to_vector<int64_t>();
  std::vector<double> in(B * T * K);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t p = 0; p < T; ++p) {
        const int64_t t = p - 1 - delays[k];  // position p shows step p - 1 of the delayed stream
        const int64_t initial = c.vocab(k);
        in[(b * T + p) * K + k] = static_cast<double>(t < 0 ? initial : v[(b * K + k) * T + t]);
      }
  return from_vector(in, {B, T, K}, DType::i64);
}

void expect_text_logits_match(const std::string& fixture, Device device = Device::cpu()) {
  MoshiFixture f = load(fixture);
  const ModelConfig c = temporal_config(f.options);
  Generator gen(0);
  HybridLM model(c, gen);
  std::vector<nn::NamedTensor> params;  // the fixture's state dict, under Moshi's names
  for (auto& [name, t] : f.data.tensors)
    if (name.rfind("param.", 0) == 0) params.emplace_back(name.substr(6), t);
  MoshiNameMap map = map_moshi_names(params);
  for (const std::string& n : map.unmapped)
    EXPECT_TRUE(n.rfind("depformer", 0) == 0 || n.rfind("linears.", 0) == 0) << "a temporal tensor left unmapped: " << n;
  nn::Module::LoadReport report = model.load_state_dict(map.mapped, /*strict=*/false);
  model.to(device);
  EXPECT_TRUE(report.unexpected.empty() && report.mismatched.empty() && report.wrong_dtype.empty()) << report.str();
  // only the audio heads stay unloaded: Moshi predicts audio with the depformer
  EXPECT_EQ(report.missing.size(), static_cast<size_t>(c.audio_streams)) << report.str();
  for (const std::string& n : report.missing) EXPECT_TRUE(n.rfind("heads.", 0) == 0 && n != "heads.0.weight") << n;

  const Tensor codes = f.tensors.at("codes");
  const std::vector<int64_t> delays = f.options["delays"].get<std::vector<int64_t>>();
  NoGradGuard no_grad;
  const Tensor text = model.forward(to_device(delayed_input(codes, delays, c), device))[0];  // [B, T, text_card]
  const std::vector<float> ours = text.to_vector<float>(), theirs = f.tensors.at("text_logits").to_vector<float>();
  const std::vector<int64_t> mask = f.tensors.at("text_mask").to_vector<int64_t>();
  const int64_t V = c.text_vocab;
  ASSERT_EQ(ours.size(), theirs.size());
  double diff = 0, scale = 0;
  int64_t compared = 0;
  for (size_t row = 0; row < mask.size(); ++row) {
    if (!mask[row]) continue;
    ++compared;
    for (int64_t j = 0; j < V; ++j) {
      diff = std::max(diff, std::fabs(static_cast<double>(ours[row * V + j]) - theirs[row * V + j]));
      scale = std::max(scale, std::fabs(static_cast<double>(theirs[row * V + j])));
    }
  }
  EXPECT_GT(compared, 0);
  EXPECT_LT(diff / scale, 1e-5) << fixture << ": max |ours - moshi| " << diff << " against max |logit| " << scale;
}

TEST(MoshiNames, MapTheTemporalStackAndLeaveTheRest) {
  EXPECT_EQ(our_name_for_moshi("text_emb.weight"), "emb.0.weight");
  EXPECT_EQ(our_name_for_moshi("emb.15.weight"), "emb.16.weight");  // audio stream k is our stream k + 1
  EXPECT_EQ(our_name_for_moshi("transformer.layers.12.norm1.alpha"), "layers.12.norm1.weight");
  EXPECT_EQ(our_name_for_moshi("transformer.layers.3.self_attn.in_projs.0.weight"), "layers.3.self_attn.in_proj.weight");
  EXPECT_EQ(our_name_for_moshi("transformer.layers.3.gating.linear_out.weight"), "layers.3.ffn.linear_out.weight");
  EXPECT_EQ(our_name_for_moshi("text_linear.weight"), "heads.0.weight");
  for (const char* other : {"depformer_emb.0.weight", "depformer.layers.0.norm1.alpha", "linears.2.weight",
                            "transformer.layers.x.norm1.alpha", "transformer.layers.1.self_attn.in_projs.1.weight", "emb.weight"})
    EXPECT_EQ(our_name_for_moshi(other), "") << other;
}

TEST(MoshiFixtures, TemporalTextLogitsMatchTheOfficialPackage) { expect_text_logits_match("moshi_7b_options"); }

// other delays, and a context of 5 steps shorter than the 14 of the sequence
TEST(MoshiFixtures, TemporalTextLogitsMatchWithAShortContext) { expect_text_logits_match("moshi_short_context"); }

TEST(MoshiFixtures, TemporalTextLogitsMatchOnCuda) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU visible (run test_ttt on the device machine)";
  expect_text_logits_match("moshi_7b_options", Device::cuda(0));
  expect_text_logits_match("moshi_short_context", Device::cuda(0));
}

}  // namespace
}  // namespace ttt
