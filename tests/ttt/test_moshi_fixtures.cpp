// Parity with the official moshi package (tests/fixtures/moshi_*.safetensors, written by
// tools/reference/make_moshi_fixtures.py from moshi 0.2.13's LMModel): the temporal transformer
// and the depformer, loaded through Moshi's checkpoint names (train/moshi_names.h), give the
// package's text logits and teacher-forced audio logits. (The loss and Moshi's delays inside the
// model are not built yet: the test delays the input itself.)
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "autograd/ops.h"
#include "core/device.h"
#include "nn/safetensors.h"
#include "tests/test_paths.h"
#include "train/moshi_names.h"
#include "ttt/depformer.h"
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

DepformerConfig depformer_config(const nlohmann::json& o) {
  DepformerConfig c;
  c.model_width = o["dim"];
  c.dim = o["depformer_dim"];
  c.num_layers = o["depformer_num_layers"];
  c.num_heads = o["depformer_num_heads"];
  c.ffn_hidden = static_cast<int64_t>(2.0 / 3.0 * o["depformer_dim_feedforward"].get<double>());
  c.steps = o["dep_q"];
  c.context = o["depformer_context"];
  if (o.contains("depformer_weights_per_step_schedule"))
    c.schedule = o["depformer_weights_per_step_schedule"].get<std::vector<int64_t>>();
  c.multi_linear = o["depformer_multi_linear"];
  c.text_vocab = o["text_card"];
  c.audio_vocab = o["card"];
  return c;
}

// Largest |ours - theirs| over the rows whose mask is set, relative to the largest |theirs| there.
struct Compared {
  double relative = 0;
  int64_t rows = 0;
};
Compared compare_rows(const std::vector<float>& ours, const std::vector<float>& theirs, const std::vector<int64_t>& mask,
                      int64_t V) {
  double diff = 0, scale = 0;
  Compared r;
  for (size_t row = 0; row < mask.size(); ++row) {
    if (!mask[row]) continue;
    ++r.rows;
    for (int64_t j = 0; j < V; ++j) {
      diff = std::max(diff, std::fabs(static_cast<double>(ours[row * V + j]) - theirs[row * V + j]));
      scale = std::max(scale, std::fabs(static_cast<double>(theirs[row * V + j])));
    }
  }
  r.relative = diff / std::max(scale, 1e-30);
  return r;
}

// The fixture's model as ours: the temporal stack and the depformer, loaded through the name map;
// then the text logits (temporal) and the teacher-forced audio logits (depformer) against Moshi's.
void expect_logits_match(const std::string& fixture, Device device = Device::cpu()) {
  MoshiFixture f = load(fixture);
  const ModelConfig c = temporal_config(f.options);
  const DepformerConfig dc = depformer_config(f.options);
  Generator gen(0);
  HybridLM model(c, gen);
  Depformer depformer(dc, gen);
  std::vector<nn::NamedTensor> params;  // the fixture's state dict, under Moshi's names
  for (auto& [name, t] : f.data.tensors)
    if (name.rfind("param.", 0) == 0) params.emplace_back(name.substr(6), t);
  MoshiNameMap map = map_moshi_names(params);
  EXPECT_TRUE(map.unmapped.empty()) << map.unmapped.size() << " unmapped, e.g. " << map.unmapped[0];
  std::vector<nn::NamedTensor> temporal, dep;
  for (auto& [name, t] : map.mapped) {
    if (name.rfind("depformer.", 0) == 0)
      dep.emplace_back(name.substr(10), t);
    else
      temporal.emplace_back(name, t);
  }
  nn::Module::LoadReport report = model.load_state_dict(temporal, /*strict=*/false);
  EXPECT_TRUE(report.unexpected.empty() && report.mismatched.empty() && report.wrong_dtype.empty()) << report.str();
  // only the audio heads stay unloaded: Moshi predicts audio with the depformer
  EXPECT_EQ(report.missing.size(), static_cast<size_t>(c.audio_streams)) << report.str();
  for (const std::string& n : report.missing) EXPECT_TRUE(n.rfind("heads.", 0) == 0 && n != "heads.0.weight") << n;
  depformer.load_state_dict(dep);  // strict: every depformer tensor, nothing else
  model.to(device);
  depformer.to(device);

  const Tensor codes = f.tensors.at("codes");
  const std::vector<int64_t> delays = f.options["delays"].get<std::vector<int64_t>>();
  const Tensor input = delayed_input(codes, delays, c);  // [B, T, 17]: position p holds delayed step p - 1
  NoGradGuard no_grad;
  const Tensor hidden = model.hidden(to_device(input, device));
  const Tensor text = model.heads->at<nn::Linear>(0)->forward(hidden);  // [B, T, text_card]
  const Compared t = compare_rows(text.to_vector<float>(), f.tensors.at("text_logits").to_vector<float>(),
                                  f.tensors.at("text_mask").to_vector<int64_t>(), c.text_vocab);
  EXPECT_GT(t.rows, 0);
  EXPECT_LT(t.relative, 1e-5) << fixture << ": text logits over " << t.rows << " rows";

  // The depformer at step p reads the delayed tokens of step p itself (teacher forcing): the input
  // shifted by one, its last step repeated from the codes ([B, T, 1 + dep_q]: text, audio 0..K-1).
  const int64_t B = codes.size(0), T = codes.size(2), K = dc.steps;
  const Tensor next_input = delayed_input(cat({codes, slice(codes, 2, T - 1, T)}, 2), delays, c);  // one step longer
  const Tensor step_tokens = slice(slice(next_input, 1, 1, T + 1), 2, 0, 1 + K);
  const std::vector<Tensor> audio = depformer.forward(hidden, to_device(step_tokens, device));
  // Moshi re-aligns codebook k's logits to the codes: step t is delayed position t + delay(k).
  std::vector<float> ours(static_cast<size_t>(B * K * T * dc.audio_vocab), 0.0f);
  for (int64_t k = 0; k < K; ++k) {
    const std::vector<float> lk = audio[static_cast<size_t>(k)].to_vector<float>();  // [B, T, V]
    const int64_t d = delays[static_cast<size_t>(1 + k)];
    for (int64_t b = 0; b < B; ++b)
      for (int64_t step = 0; step + d < T; ++step)
        for (int64_t j = 0; j < dc.audio_vocab; ++j)
          ours[((b * K + k) * T + step) * dc.audio_vocab + j] = lk[(b * T + step + d) * dc.audio_vocab + j];
  }
  const Compared a = compare_rows(ours, f.tensors.at("audio_logits").to_vector<float>(),
                                  f.tensors.at("audio_mask").to_vector<int64_t>(), dc.audio_vocab);
  EXPECT_GT(a.rows, 0);
  EXPECT_LT(a.relative, 1e-5) << fixture << ": audio logits over " << a.rows << " rows";

  // moshi-finetune's loss from our logits: per stream sum(w * ce) / sum(w) over the positions with
  // a target, audio codebook 0 weighted by first_codebook_weight, text padding by text_padding_weight
  const double first_codebook = std::stod(f.data.metadata.at("first_codebook_weight"));
  const double text_padding = std::stod(f.data.metadata.at("text_padding_weight"));
  const int64_t pad = f.options["existing_text_padding_id"];
  auto weighted_loss = [](const Tensor& logits, const std::vector<int64_t>& targets, const std::vector<double>& w) {
    const int64_t n = static_cast<int64_t>(targets.size());
    const Tensor rows =
        cross_entropy_rows(logits, from_vector(std::vector<double>(targets.begin(), targets.end()), {n}, DType::i64), -1);
    const Tensor weights = from_vector(w, {n});
    return (sum(mul(rows, weights)) * (1.0 / sum(weights).item<double>())).item<double>();
  };
  const std::vector<int64_t> code = codes.to_vector<int64_t>();
  const std::vector<int64_t> text_mask = f.tensors.at("text_mask").to_vector<int64_t>();
  std::vector<int64_t> text_targets;
  std::vector<double> text_w;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t step = 0; step < T; ++step) {
      const int64_t tok = code[(b * codes.size(1) + 0) * T + step];
      const bool on = text_mask[b * T + step] != 0;
      text_targets.push_back(on ? tok : -1);
      text_w.push_back(on ? (tok == pad ? text_padding : 1.0) : 0.0);
    }
  const std::vector<int64_t> audio_mask = f.tensors.at("audio_mask").to_vector<int64_t>();
  std::vector<int64_t> audio_targets;
  std::vector<double> audio_w;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t step = 0; step < T; ++step) {
        const bool on = audio_mask[(b * K + k) * T + step] != 0;
        audio_targets.push_back(on ? code[(b * codes.size(1) + 1 + k) * T + step] : -1);
        audio_w.push_back(on ? (k == 0 ? first_codebook : 1.0) : 0.0);
      }
  const double text_loss = weighted_loss(to_device(reshape(text, {B * T, c.text_vocab}), Device::cpu()), text_targets, text_w);
  const double audio_loss = weighted_loss(from_vector(std::vector<double>(ours.begin(), ours.end()), {B * K * T, dc.audio_vocab}),
                                          audio_targets, audio_w);
  const double want_text = f.tensors.at("text_loss").item<double>(), want_audio = f.tensors.at("audio_loss").item<double>();
  EXPECT_NEAR(text_loss, want_text, 1e-5 * want_text) << fixture;
  EXPECT_NEAR(audio_loss, want_audio, 1e-5 * want_audio) << fixture;
  EXPECT_NEAR(text_loss + audio_loss, f.tensors.at("loss").item<double>(), 1e-5 * f.tensors.at("loss").item<double>());
}

TEST(MoshiNames, MapTheTemporalStackAndTheDepformer) {
  EXPECT_EQ(our_name_for_moshi("text_emb.weight"), "emb.0.weight");
  EXPECT_EQ(our_name_for_moshi("emb.15.weight"), "emb.16.weight");  // audio stream k is our stream k + 1
  EXPECT_EQ(our_name_for_moshi("transformer.layers.12.norm1.alpha"), "layers.12.norm1.weight");
  EXPECT_EQ(our_name_for_moshi("transformer.layers.3.self_attn.in_projs.0.weight"), "layers.3.self_attn.in_proj.weight");
  EXPECT_EQ(our_name_for_moshi("transformer.layers.3.gating.linear_out.weight"), "layers.3.ffn.linear_out.weight");
  EXPECT_EQ(our_name_for_moshi("text_linear.weight"), "heads.0.weight");
  EXPECT_EQ(our_name_for_moshi("depformer_in.3.weight"), "depformer.in.3.weight");
  EXPECT_EQ(our_name_for_moshi("depformer_emb.0.weight"), "depformer.emb.0.weight");
  EXPECT_EQ(our_name_for_moshi("depformer.layers.1.norm2.alpha"), "depformer.layers.1.norm2.weight");
  EXPECT_EQ(our_name_for_moshi("depformer.layers.1.gating.5.linear_in.weight"), "depformer.layers.1.gating.5.linear_in.weight");
  EXPECT_EQ(our_name_for_moshi("linears.2.weight"), "depformer.linears.2.weight");
  for (const char* other : {"transformer.layers.x.norm1.alpha", "transformer.layers.1.self_attn.in_projs.1.weight", "emb.weight",
                            "depformer.layers.0.self_attn.in_projs.x.weight", "extra_heads.0.weight"})
    EXPECT_EQ(our_name_for_moshi(other), "") << other;
}

TEST(MoshiFixtures, TextAndAudioLogitsMatchTheOfficialPackage) { expect_logits_match("moshi_7b_options"); }

// other delays, a depformer weight schedule, and a context of 5 steps shorter than the 14 of the sequence
TEST(MoshiFixtures, TextAndAudioLogitsMatchWithAShortContextAndASchedule) { expect_logits_match("moshi_short_context"); }

TEST(MoshiFixtures, TextAndAudioLogitsMatchOnCuda) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU visible (run test_ttt on the device machine)";
  expect_logits_match("moshi_7b_options", Device::cuda(0));
  expect_logits_match("moshi_short_context", Device::cuda(0));
}

}  // namespace
}  // namespace ttt
