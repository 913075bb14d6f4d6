#include "train/init_from.h"

#include <filesystem>
#include <map>

#include "autograd/ops.h"
#include "core/error.h"
#include "nn/safetensors.h"
#include "train/export.h"
#include "train/moshi_names.h"

namespace ttt {

namespace {

// At most `limit` names, then "... and N more".
std::string list(const char* title, const std::vector<std::string>& names, size_t limit = 40) {
  if (names.empty()) return "";
  std::string s = std::string("  ") + title + " (" + std::to_string(names.size()) + "):";
  for (size_t i = 0; i < names.size() && i < limit; ++i) s += "\n    " + names[i];
  if (names.size() > limit) s += "\n    ... and " + std::to_string(names.size() - limit) + " more";
  return s + "\n";
}

bool uses_moshi_names(const std::vector<nn::NamedTensor>& tensors) {
  for (const auto& [name, t] : tensors)
    if (name.rfind("transformer.", 0) == 0 || name == "text_emb.weight") return true;
  return false;
}

}  // namespace

bool is_ttt_branch_parameter(const std::string& name) {
  for (const char* part : {".ttt.", ".forward_ssm_gating.", ".backward_ssm_gating.", ".norm_ttt."})
    if (name.find(part) != std::string::npos) return true;
  return false;
}

std::string InitReport::str() const {
  std::string s = "model.init_from " + path + " (" + names + " names): loaded " + std::to_string(loaded.size()) + " tensors (" +
                  std::to_string(loaded_elements) + " parameters)";
  if (!initialised.empty())
    s += "; initialised " + std::to_string(initialised.size()) + " TTT-branch tensors (" + std::to_string(initialised_elements) +
         " parameters) the file lacks";
  s += "\n";
  s += list("initialised (TTT branches, not in the file)", initialised, 12);
  s += list("missing (in the model, not in the file)", missing);
  s += list("unexpected (in the file, not in the model)", unexpected);
  s += list("shape mismatch", mismatched);
  return s;
}

InitReport init_from(nn::Module& model, const InitConfig& init) {
  InitReport r;
  r.path = init.from;
  // a file, or a ttt-export folder: its model file and, when there are TTT branches, theirs
  std::vector<std::string> files{init.from};
  if (std::filesystem::is_directory(init.from)) {
    const std::filesystem::path dir(init.from);
    TTT_CHECK(std::filesystem::exists(dir / kExportModelFile), "model.init_from", "'", init.from, "' is a folder without ",
              kExportModelFile, " (expected a safetensors file or a ttt-export folder)");
    files = {(dir / kExportModelFile).string()};
    if (std::filesystem::exists(dir / kExportTttFile)) files.push_back((dir / kExportTttFile).string());
  }
  std::map<std::string, Tensor> given;  // under our names
  bool moshi = false;
  for (const std::string& file : files) {
    nn::SafetensorsData data = nn::load_safetensors(file);
    if (uses_moshi_names(data.tensors)) {
      moshi = true;
      MoshiNameMap map = map_moshi_names(data.tensors);
      for (auto& name : map.unmapped) r.unexpected.push_back(name + " (no counterpart in ttt.cpp's Moshi)");
      for (auto& [name, t] : map.mapped) given.emplace(name, t);
    } else {
      for (auto& [name, t] : data.tensors) given.emplace(name, t);
    }
  }
  r.names = moshi ? "Moshi" : "ttt.cpp";
  std::vector<std::pair<Tensor, Tensor>> to_copy;
  for (auto& [name, param] : model.named_parameters()) {
    auto it = given.find(name);
    if (it == given.end()) {
      if (is_ttt_branch_parameter(name)) {
        r.initialised.push_back(name);
        r.initialised_elements += param.numel();
      } else {
        r.missing.push_back(name);
      }
      continue;
    }
    if (it->second.shape() != param.shape()) {
      r.mismatched.push_back(name + " (model " + shape_str(param.shape()) + ", file " + shape_str(it->second.shape()) + ")");
    } else {
      to_copy.emplace_back(param, it->second);
      r.loaded.push_back(name);
      r.loaded_elements += param.numel();
    }
    given.erase(it);
  }
  for (auto& [name, t] : given) r.unexpected.push_back(name);
  TTT_CHECK(!init.strict || r.fits(), "model.init_from",
            "the file does not fit the model (nothing was loaded; model.init_strict: false loads what fits):\n", r.str());
  NoGradGuard no_grad;
  for (auto& [param, value] : to_copy)  // f16/bf16 files were read as f32; cast to the parameter's dtype
    copy_into(param, value.dtype() == param.dtype() ? value : cast(value, param.dtype()));
  return r;
}

}  // namespace ttt
