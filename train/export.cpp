#include "train/export.h"

#include <filesystem>
#include <map>

#include "core/error.h"
#include "nn/safetensors.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/init_from.h"
#include "train/moshi_names.h"
#include "train/moshi_options.h"
#include "train/run_dir.h"

namespace ttt {

namespace fs = std::filesystem;

namespace {

// OUT may be new or an empty folder; anything else is the user's and stays untouched.
void make_output_folder(const std::string& out) {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(out, ec);
  if (fs::exists(st)) {
    TTT_CHECK(fs::is_directory(st), "ttt-export", "'", out, "' exists and is not a folder; give a new path");
    TTT_CHECK(fs::is_empty(out), "ttt-export", "'", out,
              "' is a folder with files in it; give a new or empty folder (nothing is overwritten)");
  }
  fs::create_directories(out);
}

std::string size_str(const std::string& path) {
  return std::to_string(static_cast<double>(fs::file_size(path)) / 1048576.0).substr(0, 6) + " MiB";
}

}  // namespace

ExportResult export_run(const std::string& run_dir, const std::string& out, ExportFormat format, DType store) {
  TTT_CHECK(store == DType::f32 || store == DType::bf16, "ttt-export", "--dtype must be f32 or bf16");
  const std::optional<std::string> latest = newest_checkpoint_of_run(run_dir, "ttt-export");
  ExportResult r;
  r.checkpoint = *latest;
  const TrainerState state = read_trainer_state(*latest);
  const TrainConfig c = parse_config(state.config_yaml, *latest + "/trainer.json");
  nn::SafetensorsData model = nn::load_safetensors((fs::path(*latest) / "model.safetensors").string());
  TTT_CHECK(model.checksummed == model.tensors.size(), "ttt-export", *latest, "/model.safetensors: only ", model.checksummed,
            " of ", model.tensors.size(), " tensors carry a checksum; a checkpoint written by ttt-train has them all");

  // everything is checked and mapped before the output folder is made
  std::vector<nn::NamedTensor> main_part, ttt_part;
  std::string config_json;
  if (format == ExportFormat::moshi) {
    TTT_CHECK(c.model.audio_head == AudioHead::depformer, "ttt-export",
              "--format moshi needs a Moshi model (model.audio_head: depformer); this run's has linear audio heads: use "
              "--format ttt");
    std::vector<nn::NamedTensor> moshi_side;
    for (auto& [name, t] : model.tensors) (is_ttt_branch_parameter(name) ? ttt_part : moshi_side).emplace_back(name, t);
    MoshiNameMap map = to_moshi_names(moshi_side);
    TTT_CHECK(map.unmapped.empty(), "ttt-export", "Moshi has no place for ", map.unmapped.size(), " tensors, e.g. ",
              map.unmapped.empty() ? "" : map.unmapped[0]);
    main_part = std::move(map.mapped);
    std::vector<int64_t> delays = c.data.delays;
    if (delays.empty()) delays.assign(static_cast<size_t>(c.model.num_streams()), 0);
    config_json = moshi_options_json(c.model, delays) + "\n";
  } else {
    main_part = model.tensors;
  }
  std::map<std::string, std::string> store_as;
  if (store == DType::bf16)
    for (auto& [name, t] : main_part) store_as[name] = "BF16";
  const std::map<std::string, std::string> meta = {
      {"format", std::string("ttt-export ") + enum_name(format)}, {"checkpoint", *latest}, {"code_version", state.code_version}};

  make_output_folder(out);
  const std::string model_path = (fs::path(out) / kExportModelFile).string();
  nn::save_safetensors(model_path, main_part, meta, store_as, /*with_checksums=*/true);
  r.lines.push_back(model_path + ": " + std::to_string(main_part.size()) + " tensors under " +
                    (format == ExportFormat::moshi ? "Moshi's" : "ttt.cpp's") + " names (" + size_str(model_path) + ")");
  if (!ttt_part.empty()) {
    const std::string path = (fs::path(out) / kExportTttFile).string();
    nn::save_safetensors(path, ttt_part, meta, {}, true);
    r.lines.push_back(path + ": " + std::to_string(ttt_part.size()) + " TTT-branch tensors under ttt.cpp's names (" +
                      size_str(path) + ")");
  }
  if (!config_json.empty()) {
    const std::string path = (fs::path(out) / "config.json").string();
    nn::write_file_atomically(path, config_json);
    r.lines.push_back(path + ": the LMModel options");
  }
  const std::string yaml = (fs::path(out) / "ttt_config.yaml").string();
  nn::write_file_atomically(yaml, state.config_yaml + "\n");
  r.lines.push_back(yaml + ": the run's ttt.cpp config (step " + std::to_string(state.step) + ")");
  return r;
}

}  // namespace ttt
