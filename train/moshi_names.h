// Moshi's checkpoint names (the official package's LMModel.state_dict(), docs/spec/MOSHI_SPEC.md)
// mapped onto ttt.cpp's modules: the temporal transformer onto HybridLM (embeddings, layers, out
// norm, text head), the depformer onto a Depformer registered as `depformer` (ttt/depformer.h).
//   text_emb.weight                                   -> emb.0.weight
//   emb.{k}.weight                                    -> emb.{k+1}.weight
//   transformer.layers.{i}.norm{1,2}.alpha [1, 1, C]  -> layers.{i}.norm{1,2}.weight [C]
//   transformer.layers.{i}.self_attn.in_projs.0.weight  -> layers.{i}.self_attn.in_proj.weight
//   transformer.layers.{i}.self_attn.out_projs.0.weight -> layers.{i}.self_attn.out_proj.weight
//   transformer.layers.{i}.gating.linear_in.weight    -> layers.{i}.ffn.linear_in.weight
//   transformer.layers.{i}.gating.linear_out.weight   -> layers.{i}.ffn.linear_out.weight
//   out_norm.alpha [1, 1, C]                          -> out_norm.weight [C]
//   text_linear.weight                                -> heads.0.weight
//   depformer_in.{k}, depformer_text_emb, depformer_emb.{k}, linears.{k}
//                                                     -> depformer.in.{k}, .text_emb, .emb.{k}, .linears.{k}
//   depformer.layers.{i}.norm{1,2}.alpha              -> depformer.layers.{i}.norm{1,2}.weight
//   depformer.layers.{i}.self_attn.{in,out}_projs.{k}, .gating.{k}.*   -> the same names
#pragma once
#include <string>
#include <vector>

#include "nn/module.h"

namespace ttt {

struct MoshiNameMap {
  std::vector<nn::NamedTensor> mapped;  // under the target's names, in the target's shapes
  std::vector<std::string> unmapped;    // source names with no counterpart
};

MoshiNameMap map_moshi_names(const std::vector<nn::NamedTensor>& moshi_state);

// Our name for a Moshi name; "" when there is none (yet).
std::string our_name_for_moshi(const std::string& moshi_name);

// The other direction (ttt-export --format moshi): Moshi's name for ours, "" when Moshi has none
// (a TTT branch, an audio head of the linear-head model).
std::string moshi_name_for_ours(const std::string& our_name);
// Our state under Moshi's names (norm weights back to [1, 1, C]); `mapped` holds Moshi's names,
// `unmapped` our names that Moshi has no place for.
MoshiNameMap to_moshi_names(const std::vector<nn::NamedTensor>& our_state);

}  // namespace ttt
