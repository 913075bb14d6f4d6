#include "train/moshi_options.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"

namespace ttt {

using nlohmann::json;

namespace {

// Moshi's gating hidden width (moshi/modules/gating.py): 21/8 of dim when dim_feedforward is 4 * dim,
// else 2/3 of dim_feedforward, rounded down.
int64_t gating_hidden(int64_t dim, int64_t dim_feedforward) {
  return dim_feedforward == 4 * dim ? 21 * dim / 8 : 2 * dim_feedforward / 3;
}

// A dim_feedforward whose gating hidden width is `hidden` (the inverse of gating_hidden).
int64_t feedforward_for(int64_t dim, int64_t hidden) {
  const int64_t ff = (3 * hidden + 1) / 2;
  TTT_CHECK(gating_hidden(dim, ff) == hidden, "moshi options", "no dim_feedforward gives the gating hidden width ", hidden);
  return ff;
}

// Whole numbers only: a JSON number too large for an integer (1e47) parses as a float, and
// converting that to int64 is undefined; such a value is refused by name instead.
int64_t whole_number(const json& v, const std::string& key, const std::string& source) {
  TTT_CHECK(v.is_number_integer(), "Moshi options " + source, key, " is ", v.dump(), "; expected a whole number");
  return v.get<int64_t>();
}

std::vector<int64_t> whole_numbers(const json& v, const std::string& key, const std::string& source) {
  TTT_CHECK(v.is_array(), "Moshi options " + source, key, " is ", v.dump(), "; expected a list of whole numbers");
  std::vector<int64_t> out;
  for (const json& e : v) out.push_back(whole_number(e, key + "[" + std::to_string(out.size()) + "]", source));
  return out;
}

}  // namespace

MoshiOptions moshi_options_from_json(const std::string& json_text, const std::string& source) {
  json o;
  try {
    o = json::parse(json_text);
  } catch (const json::exception& e) {
    fail("Moshi options " + source, std::string("not valid JSON: ") + e.what());
  }
  TTT_CHECK(o.is_object(), "Moshi options " + source, "expected a JSON object of LMModel options");
  std::vector<std::string> problems;
  auto want = [&](const char* key, const json& expected) {
    if (o.contains(key) && o[key] != expected)
      problems.push_back(std::string(key) + " is " + o[key].dump() + "; only " + expected.dump() + " is built here");
  };
  want("norm", "rms_norm_f32");
  want("gating", "silu");
  want("depformer_gating", "silu");
  want("positional_embedding", "rope");
  want("depformer_pos_emb", "none");
  want("depformer_weights_per_step", true);
  want("causal", true);
  for (const char* off : {"layer_scale", "depformer_layer_scale"}) want(off, nullptr);
  for (const char* off : {"bias_proj", "bias_ff", "bias_attn", "demux_second_text_stream", "depformer_low_rank_embeddings"})
    if (o.contains(off) && !o[off].is_null() && o[off] != false && o[off] != 0)
      problems.push_back(std::string(off) + " is " + o[off].dump() + "; not built here");
  for (const char* unsupported : {"conditioners", "fuser", "cross_attention", "lora", "extra_heads_num_heads"})
    if (o.contains(unsupported) && !o[unsupported].is_null() && o[unsupported] != false && o[unsupported] != 0)
      problems.push_back(std::string(unsupported) + " is set; not built here");
  for (const char* key : {"dim", "text_card", "n_q", "dep_q", "card", "num_heads", "num_layers", "hidden_scale", "context",
                          "depformer_dim", "depformer_dim_feedforward", "depformer_num_heads", "depformer_num_layers", "delays"})
    if (!o.contains(key)) problems.push_back(std::string("'") + key + "' is missing");
  // sizes: whole numbers in a range where the arithmetic below cannot overflow
  for (const char* key : {"dim", "text_card", "n_q", "dep_q", "card", "num_heads", "num_layers", "context", "depformer_dim",
                          "depformer_dim_feedforward", "depformer_num_heads", "depformer_num_layers", "depformer_context"})
    if (o.contains(key) && !o[key].is_null() &&
        !(o[key].is_number_integer() && o[key].get<int64_t>() >= 0 && o[key].get<int64_t>() <= (int64_t{1} << 40)))
      problems.push_back(std::string(key) + " is " + o[key].dump() + "; expected a whole number in [0, 2^40]");
  if (o.contains("hidden_scale") &&
      !(o["hidden_scale"].is_number() && o["hidden_scale"].get<double>() > 0 && o["hidden_scale"].get<double>() <= 64))
    problems.push_back("hidden_scale is " + o["hidden_scale"].dump() + "; expected a number in (0, 64]");
  if (!problems.empty()) {
    std::string msg;
    for (auto& p : problems) msg += "\n  " + p;
    fail("Moshi options " + source, "this model cannot be built as given:" + msg);
  }
  MoshiOptions m;
  ModelConfig& c = m.model;
  try {
    c.width = o["dim"];
    c.num_layers = o["num_layers"];
    c.num_heads = o["num_heads"];
    const double hidden_scale = o["hidden_scale"];
    c.ffn_hidden = gating_hidden(c.width, static_cast<int64_t>(hidden_scale * static_cast<double>(c.width)));
    c.text_vocab = o["text_card"];
    c.audio_streams = o.at("n_q").get<int64_t>();
    c.audio_vocab = o["card"];
    c.context = o["context"].is_null() ? 0 : o["context"].get<int64_t>();
    c.rope_theta = o.value("max_period", 10000.0);
    c.norm_eps = 1e-8;  // rms_norm_f32's
    c.causal = true;
    c.audio_head = AudioHead::depformer;
    DepformerConfig& d = c.depformer;
    d.dim = o["depformer_dim"];
    d.num_layers = o["depformer_num_layers"];
    d.num_heads = o["depformer_num_heads"];
    const int64_t dep_ff = o["depformer_dim_feedforward"].is_null()
                               ? static_cast<int64_t>(hidden_scale * static_cast<double>(d.dim))
                               : o["depformer_dim_feedforward"].get<int64_t>();
    d.ffn_hidden = gating_hidden(d.dim, dep_ff);
    d.steps = o["dep_q"];
    d.context = o.value("depformer_context", d.steps);
    d.multi_linear = o.value("depformer_multi_linear", false);
    if (o.contains("depformer_weights_per_step_schedule") && !o["depformer_weights_per_step_schedule"].is_null())
      d.schedule = whole_numbers(o["depformer_weights_per_step_schedule"], "depformer_weights_per_step_schedule", source);
    auto padding_id = [&](const char* key, int64_t fallback) {
      return o.contains(key) ? whole_number(o[key], key, source) : fallback;
    };
    c.moshi_loss.text_padding_ids = {padding_id("existing_text_padding_id", 3), padding_id("existing_text_end_padding_id", 0)};
    m.delays = whole_numbers(o["delays"], "delays", source);
  } catch (const json::exception& e) {
    fail("Moshi options " + source, std::string("a value has the wrong type: ") + e.what());
  }
  TTT_CHECK(static_cast<int64_t>(m.delays.size()) == c.num_streams(), "Moshi options " + source, "delays has ", m.delays.size(),
            " entries for 1 + n_q = ", c.num_streams(), " streams");
  const auto problems_found = model_config_problems(c, "Moshi options " + source);
  TTT_CHECK(problems_found.empty(), "Moshi options " + source, "invalid: ", problems_found[0]);
  return m;
}

std::string moshi_options_json(const ModelConfig& c, const std::vector<int64_t>& delays) {
  TTT_CHECK(c.audio_head == AudioHead::depformer, "moshi options", "only a model with audio_head: depformer is a Moshi model");
  const DepformerConfig& d = c.depformer;
  json o;
  o["dim"] = c.width;
  o["text_card"] = c.text_vocab;
  o["existing_text_padding_id"] = c.moshi_loss.text_padding_ids.empty() ? 3 : c.moshi_loss.text_padding_ids[0];
  if (c.moshi_loss.text_padding_ids.size() > 1) o["existing_text_end_padding_id"] = c.moshi_loss.text_padding_ids[1];
  o["n_q"] = c.audio_streams;
  o["dep_q"] = d.steps;
  o["card"] = c.audio_vocab;
  o["num_heads"] = c.num_heads;
  o["num_layers"] = c.num_layers;
  // LMModel takes int(hidden_scale * dim) as the feed-forward width: a scale that gives it exactly
  const int64_t ff = feedforward_for(c.width, c.hidden());
  const double scale = static_cast<double>(ff) / static_cast<double>(c.width);
  o["hidden_scale"] = static_cast<int64_t>(scale * static_cast<double>(c.width)) == ff
                          ? scale
                          : (static_cast<double>(ff) + 0.5) / static_cast<double>(c.width);
  o["causal"] = true;
  o["layer_scale"] = nullptr;
  o["context"] = c.context;
  o["max_period"] = c.rope_theta;
  o["gating"] = "silu";
  o["norm"] = "rms_norm_f32";
  o["positional_embedding"] = "rope";
  o["depformer_dim"] = d.dim;
  o["depformer_dim_feedforward"] = feedforward_for(d.dim, d.ffn_hidden);
  o["depformer_num_heads"] = d.num_heads;
  o["depformer_num_layers"] = d.num_layers;
  o["depformer_layer_scale"] = nullptr;
  o["depformer_multi_linear"] = d.multi_linear;
  o["depformer_context"] = d.context;
  o["depformer_max_period"] = 10000;
  o["depformer_gating"] = "silu";
  o["depformer_pos_emb"] = "none";
  o["depformer_weights_per_step"] = true;
  if (!d.schedule.empty()) o["depformer_weights_per_step_schedule"] = d.schedule;
  o["delays"] = delays;
  return o.dump(2);
}

}  // namespace ttt
