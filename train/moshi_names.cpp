#include "train/moshi_names.h"

#include <utility>

#include "autograd/ops.h"

namespace ttt {

namespace {

// Moshi's name -> ours; '#' stands for a layer or stream index and is carried across.
const std::pair<const char*, const char*> kRules[] = {
    {"text_emb.weight", "emb.0.weight"},
    {"transformer.layers.#.norm1.alpha", "layers.#.norm1.weight"},
    {"transformer.layers.#.norm2.alpha", "layers.#.norm2.weight"},
    {"transformer.layers.#.self_attn.in_projs.0.weight", "layers.#.self_attn.in_proj.weight"},
    {"transformer.layers.#.self_attn.out_projs.0.weight", "layers.#.self_attn.out_proj.weight"},
    {"transformer.layers.#.gating.linear_in.weight", "layers.#.ffn.linear_in.weight"},
    {"transformer.layers.#.gating.linear_out.weight", "layers.#.ffn.linear_out.weight"},
    {"out_norm.alpha", "out_norm.weight"},
    {"text_linear.weight", "heads.0.weight"},
    // the depformer (ttt/depformer.h), registered as `depformer`
    {"depformer_in.#.weight", "depformer.in.#.weight"},
    {"depformer_text_emb.weight", "depformer.text_emb.weight"},
    {"depformer_emb.#.weight", "depformer.emb.#.weight"},
    {"depformer.layers.#.norm1.alpha", "depformer.layers.#.norm1.weight"},
    {"depformer.layers.#.norm2.alpha", "depformer.layers.#.norm2.weight"},
    {"linears.#.weight", "depformer.linears.#.weight"},
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> parts(1);
  for (char ch : s) {
    if (ch == '.')
      parts.emplace_back();
    else
      parts.back().push_back(ch);
  }
  return parts;
}

bool is_number(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }

// True when `name` has the shape of `pattern`; the component at '#' (if any) goes to `index`.
bool matches(const std::string& pattern, const std::string& name, std::string& index) {
  const std::vector<std::string> p = split(pattern), n = split(name);
  if (p.size() != n.size()) return false;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == "#" && is_number(n[i]))
      index = n[i];
    else if (p[i] != n[i])
      return false;
  }
  return true;
}

}  // namespace

std::string our_name_for_moshi(const std::string& moshi_name) {
  std::string index;
  // emb.{k}: audio stream k is our stream k + 1 (stream 0 is the text)
  if (matches("emb.#.weight", moshi_name, index)) return "emb." + std::to_string(std::stoll(index) + 1) + ".weight";
  // the depformer's attention and gating weights keep their names (two indices: layer, weight set)
  for (const char* part : {".self_attn.in_projs.#.weight", ".self_attn.out_projs.#.weight", ".gating.#.linear_in.weight",
                           ".gating.#.linear_out.weight"})
    if (matches(std::string("depformer.layers.#") + part, moshi_name, index)) return moshi_name;
  for (const auto& [moshi, ours] : kRules)
    if (matches(moshi, moshi_name, index)) {
      std::string out = ours;
      if (const size_t at = out.find('#'); at != std::string::npos) out.replace(at, 1, index);
      return out;
    }
  return "";
}

std::string moshi_name_for_ours(const std::string& our_name) {
  std::string index;
  if (our_name == "emb.0.weight") return "text_emb.weight";
  if (matches("emb.#.weight", our_name, index)) return "emb." + std::to_string(std::stoll(index) - 1) + ".weight";
  if (our_name.rfind("heads.", 0) == 0) return our_name == "heads.0.weight" ? "text_linear.weight" : "";  // Moshi has one head
  for (const char* part : {".self_attn.in_projs.#.weight", ".self_attn.out_projs.#.weight", ".gating.#.linear_in.weight",
                           ".gating.#.linear_out.weight"})
    if (matches(std::string("depformer.layers.#") + part, our_name, index)) return our_name;
  for (const auto& [moshi, ours] : kRules)
    if (matches(ours, our_name, index)) {
      std::string out = moshi;
      if (const size_t at = out.find('#'); at != std::string::npos) out.replace(at, 1, index);
      return out;
    }
  return "";
}

MoshiNameMap to_moshi_names(const std::vector<nn::NamedTensor>& our_state) {
  MoshiNameMap out;
  for (const auto& [name, t] : our_state) {
    const std::string moshi = moshi_name_for_ours(name);
    if (moshi.empty()) {
      out.unmapped.push_back(name);
      continue;
    }
    const bool norm = moshi.size() > 6 && moshi.compare(moshi.size() - 6, 6, ".alpha") == 0;
    out.mapped.emplace_back(moshi, norm ? reshape(t, {1, 1, t.numel()}) : t);  // Moshi's alpha is [1, 1, C]
  }
  return out;
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
