// model.init_from: a new run's starting weights from a safetensors file (or a ttt-export folder), under Moshi's names (a
// checkpoint as Kyutai publishes it, mapped by train/moshi_names.h; bf16 or f16 tensors convert
// exactly to f32) or under ours (a ttt-export --format ttt file). The file's names decide which:
// Moshi's when any starts with "transformer." or is "text_emb.weight".
//
// The report lists what was loaded, what the model has that the file lacks (the TTT branches'
// parameters are initialised as configured and listed apart: a Moshi checkpoint has none), what
// the file has that the model lacks, and shapes that differ. Strict (model.init_strict, the
// default): anything but loaded and TTT-initialised is an error, and nothing is written.
#pragma once
#include <string>
#include <vector>

#include "train/config.h"

namespace ttt {

struct InitReport {
  std::string path, names;               // names: "Moshi" or "ttt.cpp"
  std::vector<std::string> loaded;       // our names
  std::vector<std::string> initialised;  // TTT-branch parameters the file lacks
  std::vector<std::string> missing;      // other parameters the file lacks (kept at their initialisation)
  std::vector<std::string> unexpected;   // file names with no parameter here
  std::vector<std::string> mismatched;   // "name (model [..], file [..])"
  int64_t loaded_elements = 0, initialised_elements = 0;
  bool fits() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  std::string str() const;  // counts, then the names of every list but `loaded`
};

// True for a parameter of a hybrid layer's TTT branch (ttt, its gates, its input norm).
bool is_ttt_branch_parameter(const std::string& name);

// Loads `init.from` into `model` (any device). Throws, changing nothing, when strict and the file
// does not fit; otherwise loads what fits.
InitReport init_from(nn::Module& model, const InitConfig& init);

}  // namespace ttt
