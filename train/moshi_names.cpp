#include "train/moshi_names.h"

#include <regex>

#include "autograd/ops.h"

namespace ttt {

namespace {

struct Rule {
  std::regex moshi;
  std::string ours;  // with $1 for the captured index
};

const std::vector<Rule>& rules() {
  static const std::vector<Rule> r = {
      {std::regex(R"(text_emb\.weight)"), "emb.0.weight"},
      {std::regex(R"(transformer\.layers\.(\d+)\.norm1\.alpha)"), "layers.$1.norm1.weight"},
      {std::regex(R"(transformer\.layers\.(\d+)\.norm2\.alpha)"), "layers.$1.norm2.weight"},
      {std::regex(R"(transformer\.layers\.(\d+)\.self_attn\.in_projs\.0\.weight)"), "layers.$1.self_attn.in_proj.weight"},
      {std::regex(R"(transformer\.layers\.(\d+)\.self_attn\.out_projs\.0\.weight)"), "layers.$1.self_attn.out_proj.weight"},
      {std::regex(R"(transformer\.layers\.(\d+)\.gating\.linear_in\.weight)"), "layers.$1.ffn.linear_in.weight"},
      {std::regex(R"(transformer\.layers\.(\d+)\.gating\.linear_out\.weight)"), "layers.$1.ffn.linear_out.weight"},
      {std::regex(R"(out_norm\.alpha)"), "out_norm.weight"},
      {std::regex(R"(text_linear\.weight)"), "heads.0.weight"},
  };
  return r;
}

}  // namespace

std::string our_name_for_moshi(const std::string& moshi_name) {
  std::smatch m;
  // emb.{k}: audio stream k is our stream k + 1 (stream 0 is the text)
  static const std::regex audio_emb(R"(emb\.(\d+)\.weight)");
  if (std::regex_match(moshi_name, m, audio_emb)) return "emb." + std::to_string(std::stoll(m[1]) + 1) + ".weight";
  for (const Rule& r : rules())
    if (std::regex_match(moshi_name, m, r.moshi)) return m.format(r.ours);
  return "";
}

MoshiNameMap map_moshi_names(const std::vector<nn::NamedTensor>& moshi_state) {
  MoshiNameMap out;
  for (const auto& [name, t] : moshi_state) {
    const std::string ours = our_name_for_moshi(name);
    if (ours.empty()) {
      out.unmapped.push_back(name);
      continue;
    }
    // Moshi's RMSNorm keeps alpha as [1, 1, C]; ours holds [C]
    const bool norm = name.size() > 6 && name.compare(name.size() - 6, 6, ".alpha") == 0;
    out.mapped.emplace_back(ours, norm ? reshape(t, {t.numel()}) : t);
  }
  return out;
}

}  // namespace ttt
