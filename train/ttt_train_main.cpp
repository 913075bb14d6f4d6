// ttt-train --config configs/tiny.yaml [key.path=value ...] [--dry-run] [--resume RUN_DIR]
#include <csignal>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "core/error.h"
#include "train/config.h"
#include "train/trainer.h"

namespace {

const char* kUsage =
    "usage: ttt-train --config CONFIG.yaml [key.path=value ...] [--dry-run]\n"
    "       ttt-train --resume RUN_DIR [key.path=value ...]\n"
    "  key.path=value   override a config value, e.g. run.max_steps=50 optim.lr=1e-3\n"
    "  --dry-run        build the model on the meta device, apply the trainable policy, print the\n"
    "                   parameter table and the policy report, and exit\n"
    "  --resume DIR     continue the run in DIR from its newest checkpoint (its config.yaml is used)\n"
    "See docs/training.md for every config key.\n";

}  // namespace

int main(int argc, char** argv) {
  // A file-size limit (ulimit -f) should fail a write with an error, not kill the process.
  std::signal(SIGXFSZ, SIG_IGN);
  std::string config_path, resume;
  bool dry_run = false;
  std::vector<std::string> overrides;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--config" || a == "--resume") {
      if (i + 1 >= argc) {
        std::cerr << "ttt-train: " << a << " needs a value\n" << kUsage;
        return 2;
      }
      (a == "--config" ? config_path : resume) = argv[++i];
    } else if (a == "--dry-run") {
      dry_run = true;
    } else if (a.find('=') != std::string::npos && a.rfind("--", 0) != 0) {
      overrides.push_back(a);
    } else {
      std::cerr << "ttt-train: unknown argument '" << a << "'\n" << kUsage;
      return 2;
    }
  }
  if (config_path.empty() && resume.empty()) {
    std::cerr << "ttt-train: give --config CONFIG.yaml or --resume RUN_DIR\n" << kUsage;
    return 2;
  }
  try {
    if (!resume.empty() && config_path.empty()) {
      config_path = (std::filesystem::path(resume) / "config.yaml").string();
      if (!std::filesystem::exists(config_path))
        ttt::fail("--resume", "'" + resume + "' is not a run directory (no config.yaml in it)");
    }
    ttt::TrainConfig config = ttt::load_config(config_path, overrides);
    return ttt::run_training(config, {dry_run, resume});
  } catch (const ttt::Error& e) {
    std::cerr << "ttt-train: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "ttt-train: error: " << e.what() << "\n";
    return 1;
  }
}
