#include "train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "nn/safetensors.h"
#include "train/run_dir.h"

#include <csignal>

namespace ttt {

namespace fs = std::filesystem;

namespace {

std::string step_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step_%08lld", static_cast<long long>(step));
  return buf;
}

void fsync_path(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// The step of a folder named step_<digits>; -1 for any other name.
int64_t step_of(const std::string& name) {
  if (name.rfind("step_", 0) != 0 || name.size() == 5 || name.size() > 5 + 18) return -1;
  int64_t step = 0;
  for (size_t i = 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    step = step * 10 + (name[i] - '0');
  }
  return step;
}

std::vector<fs::path> complete_checkpoints(const std::string& run_dir) {
  std::vector<std::pair<int64_t, fs::path>> found;
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  for (auto& e : fs::directory_iterator(dir)) {
    // ".step_*.tmp" directories are checkpoints a killed process never finished: never loaded
    const int64_t step = step_of(e.path().filename().string());
    if (step >= 0 && e.is_directory() && fs::exists(e.path() / "trainer.json")) found.emplace_back(step, e.path());
  }
  std::sort(found.begin(), found.end());  // by the step number, whatever its width
  std::vector<fs::path> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}

// Every tensor of a checkpoint file must carry a checksum and have the dtype its destination has.
nn::SafetensorsData load_verified(const fs::path& file, const std::vector<nn::NamedTensor>& expected) {
  nn::SafetensorsData d = nn::load_safetensors(file.string());  // checks every stored checksum
  const std::string where = "checkpoint " + file.string();
  TTT_CHECK(d.checksummed == d.tensors.size(), where, ": ", d.tensors.size() - d.checksummed, " of ", d.tensors.size(),
            " tensors carry no checksum (not written by this version of ttt-train, or edited)");
  std::map<std::string, DType> want;
  for (const auto& [name, t] : expected) want[name] = t.dtype();
  for (const auto& [name, file_dtype] : d.file_dtypes) {
    auto it = want.find(name);
    if (it == want.end()) continue;  // reported as unexpected by the strict load
    const std::string need = it->second == DType::f32   ? "F32"
                             : it->second == DType::f64 ? "F64"
                             : it->second == DType::i64 ? "I64"
                             : it->second == DType::i32 ? "I32"
                                                        : "BF16";
    TTT_CHECK(file_dtype == need, where, ": tensor '", name, "' is stored as ", file_dtype, " but the model holds it as ", need,
              " (a checkpoint never converts dtypes)");
  }
  return d;
}

}  // namespace

std::string save_checkpoint(const std::string& run_dir, const nn::Module& model, const nn::AdamW& opt, const TrainerState& state,
                            int64_t keep, const Faults& faults) {
  return save_checkpoint(run_dir, model, opt.state_dict(), state, keep, faults);
}

std::string save_checkpoint(const std::string& run_dir, const nn::Module& model,
                            const std::vector<nn::NamedTensor>& optimizer_state, const TrainerState& state, int64_t keep,
                            const Faults& faults) {
  const fs::path root = fs::path(run_dir) / "checkpoints";
  fs::create_directories(root);
  const fs::path final_dir = root / step_name(state.step);
  std::string tmp_name = ".";  // hidden while incomplete
  tmp_name += step_name(state.step);
  tmp_name += ".tmp";
  const fs::path tmp = root / tmp_name;
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  try {
    nn::save_safetensors((tmp / "model.safetensors").string(), model.state_dict(), {{"step", std::to_string(state.step)}}, {},
                         /*with_checksums=*/true);
    if (faults.at("kill_in_checkpoint", state.step)) std::raise(SIGKILL);
    nn::save_safetensors((tmp / "optimizer.safetensors").string(), optimizer_state, {}, {}, /*with_checksums=*/true);
    nlohmann::json j = {{"step", state.step},
                        {"seed", state.seed},
                        {"data_position", state.data_position},
                        {"config", state.config_yaml},
                        {"resolved_config", state.resolved_config},
                        {"data", state.data_identity},
                        {"code_version", state.code_version}};
    nn::write_file_atomically((tmp / "trainer.json").string(), j.dump(2) + "\n");  // written last: marks completeness
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(tmp, ignored);  // no partial checkpoint left behind; the older ones are untouched
    throw;
  }
  fsync_path(tmp);
  if (fs::exists(final_dir)) fs::remove_all(final_dir);  // same step saved again (e.g. the final save)
  fs::rename(tmp, final_dir);
  fsync_path(root);
  auto all = complete_checkpoints(run_dir);
  for (size_t i = 0; i + static_cast<size_t>(keep) < all.size(); ++i) fs::remove_all(all[i]);
  return final_dir.string();
}

std::optional<std::string> latest_checkpoint(const std::string& run_dir) {
  auto all = complete_checkpoints(run_dir);
  if (all.empty()) return std::nullopt;
  return all.back().string();
}

TrainerState read_trainer_state(const std::string& dir) {
  const std::string path = (fs::path(dir) / "trainer.json").string();
  const std::string text = read_regular_file(path, "checkpoint", 64u << 20);
  TrainerState s;
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    s.step = j.at("step").get<int64_t>();
    s.seed = j.at("seed").get<uint64_t>();
    s.data_position = j.at("data_position").get<int64_t>();
    s.config_yaml = j.at("config").get<std::string>();
    if (j.contains("resolved_config")) s.resolved_config = j.at("resolved_config").get<std::map<std::string, std::string>>();
    if (j.contains("data")) s.data_identity = j.at("data").get<std::map<std::string, std::string>>();
    if (j.contains("code_version")) s.code_version = j.at("code_version").get<std::string>();
  } catch (const std::exception& e) {
    fail("checkpoint", "trainer.json in " + dir + " is corrupt: " + e.what());
  }
  const int64_t named = step_of(fs::path(dir).filename().string());
  TTT_CHECK(s.step >= 0 && s.step < 100000000, "checkpoint", path, " is corrupt: step ", s.step, " is outside [0, 10^8)");
  TTT_CHECK(named < 0 || named == s.step, "checkpoint", path, " is corrupt: it says step ", s.step, " in the folder of step ",
            named);
  TTT_CHECK(s.data_position >= s.step && s.data_position <= s.step * (int64_t{1} << 16), "checkpoint", path,
            " is corrupt: data_position ", s.data_position, " does not fit step ", s.step);
  return s;
}

void load_model_weights(const std::string& dir, nn::Module& model) {
  const std::string file = (fs::path(dir) / "model.safetensors").string();
  nn::SafetensorsData m = nn::load_safetensors(file);  // checks every stored checksum
  TTT_CHECK(m.checksummed == m.tensors.size(), "checkpoint " + file, ": ", m.tensors.size() - m.checksummed, " of ",
            m.tensors.size(), " tensors carry no checksum (not written by this version of ttt-train, or edited)");
  model.load_state_dict(m.tensors, /*strict=*/true, /*allow_cast=*/true);
}

std::string newest_checkpoint_of_run(const std::string& run_dir, const std::string& who) {
  TTT_CHECK(is_marked_run_dir(run_dir), who, "'", run_dir, "' is not a run directory made by ttt-train (no ", kRunMarker,
            " in it)");
  const auto latest = latest_checkpoint(run_dir);
  TTT_CHECK(latest.has_value(), who, "'", run_dir, "' has no complete checkpoint yet");
  return *latest;
}

TrainerState load_checkpoint(const std::string& dir, nn::Module& model, nn::AdamW& opt) {
  TrainerState s = read_trainer_state(dir);
  auto m = load_verified(fs::path(dir) / "model.safetensors", model.state_dict());
  auto o = load_verified(fs::path(dir) / "optimizer.safetensors", opt.state_dict());
  // (bf16 tensors decode as f32; load_verified has checked that the file's dtype is the parameter's,
  // so the cast back is exact: frozen weights kept in bf16, trainable.frozen_dtype)
  model.load_state_dict(m.tensors, /*strict=*/true, /*allow_cast=*/true);
  opt.load_state_dict(o.tensors);
  TTT_CHECK(opt.steps() == s.step, "checkpoint", dir, ": the optimizer has done ", opt.steps(), " steps but trainer.json says ",
            s.step);
  return s;
}

}  // namespace ttt
