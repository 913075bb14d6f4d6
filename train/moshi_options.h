// Moshi's model options (the keyword arguments of the official package's LMModel, as in
// moshi.models.loaders._lm_kwargs and a checkpoint's config.json) to and from our ModelConfig.
// Reading refuses every option this framework does not build, naming it, rather than building a
// different model: the norm must be rms_norm_f32, the gating silu, RoPE temporal positions, the
// depformer with weights per step and no positional embedding, no biases, no extra heads.
#pragma once
#include <string>
#include <vector>

#include "ttt/model.h"

namespace ttt {

struct MoshiOptions {
  ModelConfig model;            // audio_head: depformer, no TTT layers
  std::vector<int64_t> delays;  // per stream (data.delays)
};

// `json_text`: the options as a JSON object; `source` names it in errors.
MoshiOptions moshi_options_from_json(const std::string& json_text, const std::string& source);

// The LMModel options of our model (the Moshi part: TTT branches are not Moshi options), as JSON.
std::string moshi_options_json(const ModelConfig& model, const std::vector<int64_t>& delays);

}  // namespace ttt
