#include "train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "nn/safetensors.h"
#include "train/faults.h"

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

std::vector<fs::path> complete_checkpoints(const std::string& run_dir) {
  std::vector<fs::path> out;
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  if (!fs::is_directory(dir)) return out;
  for (auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    // ".step_*.tmp" directories are checkpoints a killed process never finished: never loaded
    if (e.is_directory() && name.rfind("step_", 0) == 0 && fs::exists(e.path() / "trainer.json")) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());  // zero-padded step numbers sort in order
  return out;
}

}  // namespace

std::string save_checkpoint(const std::string& run_dir, const nn::Module& model, const nn::AdamW& opt,
                            const TrainerState& state, int64_t keep) {
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
    nn::save_safetensors((tmp / "model.safetensors").string(), model.state_dict(), {{"step", std::to_string(state.step)}});
    if (fault_at("kill_in_checkpoint", state.step)) std::raise(SIGKILL);
    nn::save_safetensors((tmp / "optimizer.safetensors").string(), opt.state_dict());
    nlohmann::json j = {{"step", state.step}, {"seed", state.seed}, {"data_position", state.data_position},
                        {"config", state.config_yaml}};
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
  std::ifstream in(fs::path(dir) / "trainer.json");
  TTT_CHECK(in.good(), "checkpoint", "cannot read ", (fs::path(dir) / "trainer.json").string());
  nlohmann::json j;
  try {
    in >> j;
    TrainerState s;
    s.step = j.at("step").get<int64_t>();
    s.seed = j.at("seed").get<uint64_t>();
    s.data_position = j.at("data_position").get<int64_t>();
    s.config_yaml = j.at("config").get<std::string>();
    return s;
  } catch (const std::exception& e) {
    fail("checkpoint", "trainer.json in " + dir + " is corrupt: " + e.what());
  }
}

TrainerState load_checkpoint(const std::string& dir, nn::Module& model, nn::AdamW& opt) {
  TrainerState s = read_trainer_state(dir);
  auto m = nn::load_safetensors((fs::path(dir) / "model.safetensors").string());
  model.load_state_dict(m.tensors);
  auto o = nn::load_safetensors((fs::path(dir) / "optimizer.safetensors").string());
  opt.load_state_dict(o.tensors);
  TTT_CHECK(opt.steps() == s.step, "checkpoint", dir, ": the optimizer has done ", opt.steps(), " steps but trainer.json says ", s.step);
  return s;
}

}  // namespace ttt
