// Parity with the official moshi package (tests/fixtures/moshi_*.safetensors, written by
// tools/reference/make_moshi_fixtures.py from moshi 0.2.13's LMModel): the temporal transformer
// and the depformer, loaded through Moshi's checkpoint names (train/moshi_names.h), give the
// package's text logits, teacher-forced audio logits and moshi-finetune's loss; TTT branches
// added to the loaded layers; Moshi's options read and written back.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "autograd/ops.h"
#include "core/device.h"
#include "nn/policy.h"
#include "nn/precision.h"
#include "nn/safetensors.h"
#include "tests/test_paths.h"
#include "train/init_from.h"
#include "train/moshi_names.h"
#include "train/moshi_options.h"
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

// The fixture's model options as ours (train/moshi_options.h), with the fixture's loss weights.
MoshiOptions options_of(const MoshiFixture& f) {
  MoshiOptions o = moshi_options_from_json(f.data.metadata.at("options"), "the fixture");
  MoshiLossConfig& l = o.model.moshi_loss;
  l.first_codebook_weight = std::stod(f.data.metadata.at("first_codebook_weight"));
  l.text_padding_weight = std::stod(f.data.metadata.at("text_padding_weight"));
  if (f.data.metadata.count("text_padding_ids"))
    l.text_padding_ids = nlohmann::json::parse(f.data.metadata.at("text_padding_ids")).get<std::vector<int64_t>>();
  else  // fixtures written before the generator recorded them weighed only the padding id
    l.text_padding_ids = {f.options["existing_text_padding_id"].get<int64_t>()};
  return o;
}

// The stream of codes [B, K, T] as the data path delays it (data.delays): stream k at position p
// shows step p - delays[k], the initial token (its pad id, the extra row) before step 0; returned as
// our tokens [B, T + 1, K] for positions -1 .. T - 1 (position -1 is all initial tokens, as
// LMModel.forward puts one initial step in front).
Tensor delayed_stream(const Tensor& codes, const std::vector<int64_t>& delays, const ModelConfig& c) {
  const int64_t B = codes.size(0), K = codes.size(1), T = codes.size(2);
  const std::vector<int64_t> v = codes.to_vector<int64_t>();
  std::vector<double> out(B * (T + 1) * K);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t p = -1; p < T; ++p) {
        const int64_t t = p - delays[k];
        out[(b * (T + 1) + p + 1) * K + k] = static_cast<double>(t < 0 ? c.pad_id(k) : v[(b * K + k) * T + t]);
      }
  return from_vector(out, {B, T + 1, K}, DType::i64);
}

// The fixture's Moshi state dict (its param.* tensors) written as Kyutai publishes one, so the
// test loads it the way a user does: model.init_from.
std::string write_moshi_checkpoint(const MoshiFixture& f, const std::string& name) {
  std::vector<nn::NamedTensor> params;
  for (auto& [n, t] : f.data.tensors)
    if (n.rfind("param.", 0) == 0) params.emplace_back(n.substr(6), t);
  const std::string path =
      (std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()) + ".safetensors")).string();
  nn::save_safetensors(path, params);
  return path;
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

struct LoadedMoshi {
  MoshiFixture f;
  MoshiOptions o;
  std::unique_ptr<HybridLM> model;
  InitReport report;
  Tensor inputs, targets;  // [B, T, 17]: what the data path gives for the fixture's codes
};

// The fixture's model as ours, through model.init_from; `edit` changes the config first (TTT layers).
LoadedMoshi load_moshi(const std::string& fixture, const std::function<void(ModelConfig&)>& edit = {}) {
  LoadedMoshi m{load(fixture), {}, {}, {}, {}, {}};
  m.o = options_of(m.f);
  if (edit) edit(m.o.model);
  Generator gen(0);
  m.model = std::make_unique<HybridLM>(m.o.model, gen);
  const std::string path = write_moshi_checkpoint(m.f, fixture);
  InitConfig init;
  init.from = path;
  m.report = init_from(*m.model, init);  // strict
  std::filesystem::remove(path);
  const Tensor stream = delayed_stream(m.f.tensors.at("codes"), m.o.delays, m.o.model);
  const int64_t T = stream.size(1) - 1;
  m.inputs = slice(stream, 1, 0, T);  // position p reads step p - 1 and predicts step p
  m.targets = slice(stream, 1, 1, T + 1);
  return m;
}

// Text logits, teacher-forced audio logits (re-aligned as Moshi does: codebook k's step t is
// delayed position t + delay) and moshi-finetune's loss, against the package's.
void expect_logits_and_loss_match(const std::string& fixture, Device device = Device::cpu()) {
  LoadedMoshi m = load_moshi(fixture);
  EXPECT_TRUE(m.report.fits() && m.report.initialised.empty()) << m.report.str();
  EXPECT_EQ(m.report.names, "Moshi");
  EXPECT_EQ(static_cast<int64_t>(m.report.loaded_elements), m.model->num_parameters());  // every parameter from the file
  HybridLM& model = *m.model;
  model.to(device);
  const ModelConfig& c = m.o.model;
  NoGradGuard no_grad;
  const Tensor in = to_device(m.inputs, device), tg = to_device(m.targets, device);
  const std::vector<Tensor> logits = model.logits(in, tg);
  ASSERT_EQ(logits.size(), static_cast<size_t>(1 + c.depformer.steps));
  const Compared t = compare_rows(logits[0].to_vector<float>(), m.f.tensors.at("text_logits").to_vector<float>(),
                                  m.f.tensors.at("text_mask").to_vector<int64_t>(), c.text_vocab);
  EXPECT_GT(t.rows, 0);
  EXPECT_LT(t.relative, 1e-5) << fixture << ": text logits over " << t.rows << " rows";

  const int64_t B = m.inputs.size(0), T = m.inputs.size(1), K = c.depformer.steps, V = c.audio_vocab;
  std::vector<float> ours(static_cast<size_t>(B * K * T * V), 0.0f);
  for (int64_t k = 0; k < K; ++k) {
    const std::vector<float> lk = logits[static_cast<size_t>(1 + k)].to_vector<float>();  // [B, T, V]
    const int64_t d = m.o.delays[static_cast<size_t>(1 + k)];
    for (int64_t b = 0; b < B; ++b)
      for (int64_t step = 0; step + d < T; ++step)
        for (int64_t j = 0; j < V; ++j) ours[((b * K + k) * T + step) * V + j] = lk[(b * T + step + d) * V + j];
  }
  const Compared a =
      compare_rows(ours, m.f.tensors.at("audio_logits").to_vector<float>(), m.f.tensors.at("audio_mask").to_vector<int64_t>(), V);
  EXPECT_GT(a.rows, 0);
  EXPECT_LT(a.relative, 1e-5) << fixture << ": audio logits over " << a.rows << " rows";

  // the training loss, as ttt-train computes it (HybridLM::loss: the targets' weights built on the host)
  const HybridLM::Loss loss = model.loss(in, tg);
  const double want_text = m.f.tensors.at("text_loss").item<double>(), want_audio = m.f.tensors.at("audio_loss").item<double>();
  const double want = m.f.tensors.at("loss").item<double>();
  EXPECT_NEAR(loss.per_stream[0].item<double>(), want_text, 1e-5 * want_text) << fixture;
  EXPECT_NEAR(loss.per_stream[1].item<double>(), want_audio, 1e-5 * want_audio) << fixture;
  EXPECT_NEAR(loss.total.item<double>(), want, 1e-5 * want) << fixture;
  std::printf("%s on %s: text logits %.1e, audio logits %.1e, loss %.1e relative to the package's\n", fixture.c_str(),
              device.str().c_str(), t.relative, a.relative, std::fabs(loss.total.item<double>() - want) / want);
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

TEST(MoshiFixtures, LogitsAndLossMatchTheOfficialPackage) { expect_logits_and_loss_match("moshi_7b_options"); }

// other delays, a depformer weight schedule, and a context of 5 steps shorter than the 14 of the sequence
TEST(MoshiFixtures, LogitsAndLossMatchWithAShortContextAndASchedule) { expect_logits_and_loss_match("moshi_short_context"); }

TEST(MoshiFixtures, LogitsAndLossMatchOnCuda) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU visible (run test_ttt on the device machine)";
  expect_logits_and_loss_match("moshi_7b_options", Device::cuda(0));
  expect_logits_and_loss_match("moshi_short_context", Device::cuda(0));
}

// Generation's path, teacher-forced: the temporal stack one step at a time (KV caches) and the
// depformer codebook after codebook, each fed the true previous token, give the full forward's
// logits (which match the package's) at every step.
TEST(MoshiFixtures, StreamingAndDepformerGenerationEqualTheFullForward) {
  LoadedMoshi m = load_moshi("moshi_short_context");  // context 5 < 14 steps: the cache forgets
  HybridLM& model = *m.model;
  NoGradGuard no_grad;
  const std::vector<Tensor> full = model.logits(m.inputs, m.targets);
  const int64_t T = m.inputs.size(1), K = m.o.model.depformer.steps;
  const std::vector<int64_t> targets = m.targets.to_vector<int64_t>();
  const int64_t B = m.inputs.size(0), N = m.inputs.size(2);
  ModelStream stream = model.start_stream(T);
  double diff = 0, scale = 0;
  auto compare = [&](const Tensor& want, const Tensor& got) {
    const std::vector<float> a = want.to_vector<float>(), b = got.to_vector<float>();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i)
      diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i])),
      scale = std::max(scale, std::fabs(static_cast<double>(a[i])));
  };
  for (int64_t t = 0; t < T; ++t) {
    const Tensor temporal = model.hidden_step(slice(m.inputs, 1, t, t + 1), stream);  // [B, 1, C]
    ASSERT_EQ(model.heads->size(), 1u);  // the text head; the depformer does the audio
    compare(squeeze(slice(full[0], 1, t, t + 1), 1), squeeze(model.heads->at<nn::Linear>(0)->forward(temporal), 1));
    const Tensor text_token = squeeze(slice(slice(m.targets, 1, t, t + 1), 2, 0, 1), 2);
    const std::vector<Tensor> audio = model.depformer->generate(temporal, text_token, [&](int64_t k, const Tensor& logits) {
      compare(squeeze(slice(full[static_cast<size_t>(1 + k)], 1, t, t + 1), 1), logits);
      std::vector<double> teacher(static_cast<size_t>(B));
      for (int64_t b = 0; b < B; ++b)
        teacher[static_cast<size_t>(b)] = static_cast<double>(targets[static_cast<size_t>((b * T + t) * N + 1 + k)]);
      return from_vector(teacher, {B}, DType::i64);
    });
    EXPECT_EQ(static_cast<int64_t>(audio.size()), K);
  }
  EXPECT_LT(diff / scale, 1e-5) << "streamed text and generated audio logits against the full forward";
}

// TTT branches added to loaded layers: the file lacks them, so they are initialised and listed;
// with the gates at exactly zero the model's logits are the loaded model's, bit for bit.
TEST(MoshiFixtures, TttBranchesWithZeroGatesLeaveTheLoadedModelsLogits) {
  auto add_ttt = [](ModelConfig& c) {
    c.hybrid_layers = {0, -1};
    c.gate_init = 0.0;
    c.ttt.width = c.width;
    c.ttt.heads = 2;
    c.ttt.variant = TTTVariant::multilayer;
    c.ttt.mlp_dims = {16, 32, 16};
    c.ttt.mini_batch_size = 4;
  };
  LoadedMoshi plain = load_moshi("moshi_short_context"), hybrid = load_moshi("moshi_short_context", add_ttt);
  EXPECT_TRUE(hybrid.report.fits()) << hybrid.report.str();
  EXPECT_EQ(hybrid.report.loaded.size(), plain.report.loaded.size());
  ASSERT_FALSE(hybrid.report.initialised.empty());
  for (const std::string& n : hybrid.report.initialised) EXPECT_TRUE(is_ttt_branch_parameter(n)) << n;
  EXPECT_EQ(hybrid.report.initialised_elements + hybrid.report.loaded_elements, hybrid.model->num_parameters());
  NoGradGuard no_grad;
  const std::vector<Tensor> a = plain.model->logits(plain.inputs, plain.targets);
  const std::vector<Tensor> b = hybrid.model->logits(hybrid.inputs, hybrid.targets);
  ASSERT_EQ(a.size(), b.size());
  for (size_t s = 0; s < a.size(); ++s) EXPECT_EQ(a[s].to_vector<float>(), b[s].to_vector<float>()) << "stream " << s;
  // and the gates are what makes them zero: a nonzero gate changes the text logits
  for (auto& [name, p] : hybrid.model->named_parameters())
    if (name.find("forward_ssm_gating") != std::string::npos) copy_into(p, full(p.shape(), 0.5, p.dtype(), p.device()));
  EXPECT_NE(hybrid.model->logits(hybrid.inputs, hybrid.targets)[0].to_vector<float>(), a[0].to_vector<float>());
}

// trainable.frozen_dtype: bf16 stores the frozen weights in 2 bytes; the loaded model's logits and
// loss move by a bounded amount (bf16 keeps 8 bits of mantissa), in f32 and in bf16 activations.
void expect_frozen_bf16_close(Device device) {
  LoadedMoshi f32 = load_moshi("moshi_7b_options"), bf16 = load_moshi("moshi_7b_options");
  f32.model->to(device);
  bf16.model->to(device);
  nn::RequiresGradPolicy freeze_all;
  freeze_all.rules.push_back({nn::Selector{"**", ""}, false});
  nn::apply_policy(*bf16.model, freeze_all);
  EXPECT_EQ(nn::store_frozen_in_bf16(*bf16.model), bf16.model->num_parameters());
  for (auto& [name, p] : bf16.model->named_parameters()) EXPECT_EQ(p.dtype(), DType::bf16) << name;
  NoGradGuard no_grad;
  const Tensor in = to_device(f32.inputs, device), tg = to_device(f32.targets, device);
  const std::vector<Tensor> want = f32.model->logits(in, tg);
  const double want_loss = f32.model->loss(in, tg).total.item<double>();
  for (DType activations : {DType::f32, DType::bf16}) {
    nn::ActivationScope scope(activations);
    const std::vector<Tensor> got = bf16.model->logits(in, tg);
    double diff = 0, scale = 0;
    for (size_t s = 0; s < want.size(); ++s) {
      const std::vector<float> a = want[s].to_vector<float>(), b = got[s].to_vector<float>();
      for (size_t i = 0; i < a.size(); ++i)
        diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i])),
        scale = std::max(scale, std::fabs(static_cast<double>(a[i])));
    }
    const double loss = bf16.model->loss(in, tg).total.item<double>();
    // (measured on the CPU: 2.2e-2 in f32 activations, 4.5e-2 in bf16 ones, whose own rounding adds to it)
    EXPECT_LT(diff / scale, activations == DType::f32 ? 3e-2 : 6e-2) << dtype_name(activations) << " activations";
    EXPECT_NEAR(loss, want_loss, 1e-2 * want_loss) << dtype_name(activations) << " activations";
    std::printf("frozen bf16, %s activations on %s: logits %.2e relative, loss %.6f vs %.6f\n", dtype_name(activations),
                device.str().c_str(), diff / scale, loss, want_loss);
  }
}

TEST(MoshiFixtures, FrozenWeightsInBf16MoveTheLogitsBoundedly) { expect_frozen_bf16_close(Device::cpu()); }

TEST(MoshiFixtures, FrozenWeightsInBf16MoveTheLogitsBoundedlyOnCuda) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU visible (run test_ttt on the device machine)";
  expect_frozen_bf16_close(Device::cuda(0));
}

// Kyutai publishes Moshi in bf16: such a file loads, each value the f32 one rounded to bf16.
TEST(MoshiFixtures, InitFromABf16CheckpointConverts) {
  MoshiFixture f = load("moshi_7b_options");
  std::vector<nn::NamedTensor> params;
  std::map<std::string, std::string> as_bf16;
  for (auto& [n, t] : f.data.tensors)
    if (n.rfind("param.", 0) == 0) params.emplace_back(n.substr(6), t), as_bf16[n.substr(6)] = "BF16";
  const std::string path =
      (std::filesystem::temp_directory_path() / ("bf16_" + std::to_string(::getpid()) + ".safetensors")).string();
  nn::save_safetensors(path, params, {}, as_bf16);
  const MoshiOptions o = options_of(f);
  Generator gen(0);
  HybridLM model(o.model, gen);
  InitConfig init;
  init.from = path;
  const InitReport r = init_from(model, init);
  std::filesystem::remove(path);
  EXPECT_TRUE(r.fits()) << r.str();
  const std::vector<nn::NamedTensor> named = model.named_parameters();
  const std::map<std::string, Tensor> ours(named.begin(), named.end());
  const Tensor loaded = ours.at("layers.1.self_attn.in_proj.weight"),
               want = f.tensors.at("param.transformer.layers.1.self_attn.in_projs.0.weight");
  EXPECT_EQ(loaded.dtype(), DType::f32);
  EXPECT_EQ(loaded.to_vector<float>(), to_dtype(to_dtype(want, DType::bf16), DType::f32).to_vector<float>());
  EXPECT_NE(loaded.to_vector<float>(), want.to_vector<float>());  // rounded, so the file was bf16
}

// A file that does not fit is refused, strict, naming what is wrong; init_strict: false loads the rest.
TEST(MoshiFixtures, InitFromReportsWhatDoesNotFit) {
  MoshiFixture f = load("moshi_7b_options");
  MoshiOptions o = options_of(f);
  o.model.num_layers = 3;  // one layer more than the file has
  Generator gen(0);
  HybridLM model(o.model, gen);
  const std::string path = write_moshi_checkpoint(f, "init_report");
  InitConfig init;
  init.from = path;
  const std::vector<float> before = model.named_parameters().front().second.to_vector<float>();
  try {
    init_from(model, init);
    ADD_FAILURE() << "a file without layer 2 loaded strictly";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing (in the model, not in the file)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("layers.2.norm1.weight"), std::string::npos) << e.what();
  }
  EXPECT_EQ(model.named_parameters().front().second.to_vector<float>(), before);  // nothing written
  init.strict = false;
  const InitReport r = init_from(model, init);
  EXPECT_FALSE(r.missing.empty());
  EXPECT_TRUE(r.unexpected.empty() && r.mismatched.empty()) << r.str();
  EXPECT_NE(model.named_parameters().front().second.to_vector<float>(), before);
  std::filesystem::remove(path);
}

// Options -> our config -> options: the same model.
TEST(MoshiOptions, RoundTrip) {
  for (const char* fixture : {"moshi_7b_options", "moshi_short_context"}) {
    MoshiFixture f = load(fixture);
    const MoshiOptions o = moshi_options_from_json(f.data.metadata.at("options"), fixture);
    const MoshiOptions back = moshi_options_from_json(moshi_options_json(o.model, o.delays), "round trip");
    EXPECT_EQ(back.model.hidden(), o.model.hidden());
    EXPECT_EQ(back.model.depformer.ffn_hidden, o.model.depformer.ffn_hidden);
    EXPECT_EQ(back.model.depformer.schedule, o.model.depformer.schedule);
    EXPECT_EQ(back.delays, o.delays);
    Generator g1(0), g2(0);
    EXPECT_EQ(HybridLM(o.model, g1, Device::meta()).num_parameters(), HybridLM(back.model, g2, Device::meta()).num_parameters());
  }
  EXPECT_THROW(moshi_options_from_json(R"({"dim": 8, "norm": "layer_norm"})", "x"), Error);
  // a number too large for an integer parses as a float: refused by name, never converted (the
  // fuzzer's find, fuzz/regressions/moshi_options/delays_float_too_large_for_int64)
  MoshiFixture f = load("moshi_short_context");
  nlohmann::json j = nlohmann::json::parse(f.data.metadata.at("options"));
  j["delays"][1] = 1.8e47;
  try {
    moshi_options_from_json(j.dump(), "x");
    ADD_FAILURE() << "a float delay was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("delays[1] is 1.8e+47; expected a whole number"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ttt
