#include "train/export.h"

#include <csignal>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "nn/safetensors.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/init_from.h"
#include "train/moshi_names.h"
#include "train/moshi_options.h"
#include "train/run_dir.h"
#include "train/stop_signal.h"

namespace ttt {

namespace fs = std::filesystem;

namespace {

constexpr const char* kClaimFile = ".ttt-export-writing";

// OUT may be new or an empty folder; anything else is the user's and stays untouched. The export
// claims the folder with a file only one process can create (O_EXCL), so two exports onto the same
// empty folder cannot mix their files: the second is refused. If the export fails half-way, the
// files it wrote go again (and the folder, if it made it); the claim goes when the export is complete.
class OutputFolder {
 public:
  explicit OutputFolder(const std::string& out) : out_(out) {
    std::error_code ec;
    const fs::file_status st = fs::symlink_status(out, ec);
    if (fs::exists(st)) {
      TTT_CHECK(fs::is_directory(st), "ttt-export", "'", out, "' exists and is not a folder; give a new path");
      TTT_CHECK(!fs::exists(fs::path(out) / kClaimFile), "ttt-export", "'", out, "' holds ", kClaimFile,
                ": another ttt-export is writing there, or one stopped half-way (then empty the folder yourself)");
      TTT_CHECK(fs::is_empty(out), "ttt-export", "'", out,
                "' is a folder with files in it; give a new or empty folder (nothing is overwritten)");
    } else {
      created_ = fs::create_directories(out);
    }
    const std::string claim = (fs::path(out) / kClaimFile).string();
    const int fd = ::open(claim.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
    TTT_CHECK(fd >= 0, "ttt-export", "'", out, "': another ttt-export claimed it first (", kClaimFile, ")");
    ::close(fd);
    claimed_ = true;
    // a file that came between the emptiness check and the claim is not ours: stop before writing
    for (const auto& entry : fs::directory_iterator(out))
      if (entry.path().filename() != kClaimFile) {
        fs::remove(claim, ec);
        claimed_ = false;
        fail("ttt-export",
             "'" + out + "' is no longer empty (" + entry.path().filename().string() + " appeared); nothing written");
      }
  }
  ~OutputFolder() {
    if (!claimed_) return;
    std::error_code ec;  // failed half-way: the export's own files go, and its claim
    for (const std::string& path : written_) fs::remove(path, ec);
    fs::remove(fs::path(out_) / kClaimFile, ec);
    if (created_ && fs::is_empty(out_, ec)) fs::remove(out_, ec);
  }
  OutputFolder(const OutputFolder&) = delete;
  OutputFolder& operator=(const OutputFolder&) = delete;
  // The path of a file the export is about to write (removed again if the export fails).
  std::string file(const std::string& name) {
    written_.push_back((fs::path(out_) / name).string());
    return written_.back();
  }
  // The export is complete: the files stay, the claim goes.
  void complete() {
    std::error_code ec;
    fs::remove(fs::path(out_) / kClaimFile, ec);
    claimed_ = false;
  }

 private:
  std::string out_;
  std::vector<std::string> written_;
  bool created_ = false, claimed_ = false;
};

std::string size_str(const std::string& path) {
  return std::to_string(static_cast<double>(fs::file_size(path)) / 1048576.0).substr(0, 6) + " MiB";
}

}  // namespace

ExportResult export_run(const std::string& run_dir, const std::string& out, ExportFormat format, DType store,
                        const Faults& faults) {
  TTT_CHECK(store == DType::f32 || store == DType::bf16, "ttt-export", "--dtype must be f32 or bf16");
  StopSignals signals("\nttt-export: stop requested; removing the files written so far (signal again to quit now)\n");
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

  if ((r.stopped_by = StopSignals::requested())) return r;  // before anything was written
  OutputFolder folder(out);
  int written = 0;
  // after each file: a signal stops the export here, and the folder's destructor removes its files
  auto stop_after_file = [&] {
    if (faults.at("sigint_in_export", ++written)) std::raise(SIGINT);
    return (r.stopped_by = StopSignals::requested()) != 0;
  };
  const std::string model_path = folder.file(kExportModelFile);
  nn::save_safetensors(model_path, main_part, meta, store_as, /*with_checksums=*/true);
  r.lines.push_back(model_path + ": " + std::to_string(main_part.size()) + " tensors under " +
                    (format == ExportFormat::moshi ? "Moshi's" : "ttt.cpp's") + " names (" + size_str(model_path) + ")");
  if (stop_after_file()) return r;
  if (!ttt_part.empty()) {
    const std::string path = folder.file(kExportTttFile);
    nn::save_safetensors(path, ttt_part, meta, {}, true);
    r.lines.push_back(path + ": " + std::to_string(ttt_part.size()) + " TTT-branch tensors under ttt.cpp's names (" +
                      size_str(path) + ")");
    if (stop_after_file()) return r;
  }
  if (!config_json.empty()) {
    const std::string path = folder.file("config.json");
    nn::write_file_atomically(path, config_json);
    r.lines.push_back(path + ": the LMModel options");
    if (stop_after_file()) return r;
  }
  const std::string yaml = folder.file("ttt_config.yaml");
  nn::write_file_atomically(yaml, state.config_yaml + "\n");
  r.lines.push_back(yaml + ": the run's ttt.cpp config (step " + std::to_string(state.step) + ")");
  if (stop_after_file()) return r;
  folder.complete();
  return r;
}

}  // namespace ttt
