// ttt-train --config configs/tiny.yaml [key.path=value ...] [--dry-run [--depth N]] [--resume RUN_DIR]
#include <csignal>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "core/error.h"
#include "train/cli.h"
#include "train/config.h"
#include "train/trainer.h"
#include "train/yaml_reader.h"

namespace {

const char* kUsage =
    "usage: ttt-train --config CONFIG.yaml [key.path=value ...] [--dry-run [--depth N]]\n"
    "       ttt-train --resume RUN_DIR [key.path=value ...] [--allow-config-change KEY ...]\n"
    "  key.path=value   override a config value, e.g. run.max_steps=50 optim.lr=1e-3\n"
    "  --dry-run        build the model on the meta device, apply the trainable policy, print the\n"
    "                   parameter table, the policy report and the memory estimate, and exit\n"
    "  --depth N        levels of the module tree in the dry run's table (default 3)\n"
    "  --resume DIR     continue the run in DIR from its newest checkpoint (its config.yaml is used,\n"
    "                   or --config); changes other than length and logging are refused\n"
    "  --allow-config-change KEY\n"
    "                   let --resume change KEY (or every key of a section, e.g. data)\n"
    "  --version        print the version and the git commit\n"
    "SIGINT/SIGTERM/SIGHUP finish the step, write a checkpoint and exit with 128 + the signal.\n"
    "See docs/training.md for every config key.\n";

}  // namespace

int main(int argc, char** argv) {
  // A file-size limit (ulimit -f) should fail a write with an error, not kill the process.
  std::signal(SIGXFSZ, SIG_IGN);
  std::string config_path, resume;
  std::string depth_text;
  ttt::TrainOptions options;
  options.argv.assign(argv, argv + argc);
  std::vector<std::string> overrides;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--version") {
      std::cout << ttt::cli::version_line("ttt-train") << "\n";
      return 0;
    } else if (a == "--config" || a == "--resume" || a == "--depth" || a == "--allow-config-change") {
      if (i + 1 >= argc) {
        std::cerr << "ttt-train: " << a << " needs a value\n" << kUsage;
        return 2;
      }
      const std::string v = argv[++i];
      const std::string& previous = a == "--config" ? config_path : a == "--resume" ? resume : a == "--depth" ? depth_text : v;
      if (&previous != &v && !previous.empty()) {
        std::cerr << "ttt-train: " << a << " is given twice ('" << previous << "' and '" << v << "')\n" << kUsage;
        return 2;
      }
      if (a == "--config")
        config_path = v;
      else if (a == "--resume")
        resume = v;
      else if (a == "--depth")
        depth_text = v;
      else
        options.allow_config_change.push_back(v);
    } else if (a == "--dry-run") {
      options.dry_run = true;
    } else if (a.find('=') != std::string::npos && a.rfind("--", 0) != 0) {
      overrides.push_back(a);
    } else {
      const std::string near =
          ttt::nearest_word(a, {"--config", "--resume", "--dry-run", "--depth", "--allow-config-change", "--help", "--version"});
      std::cerr << "ttt-train: unknown argument '" << a << "'" << (near.empty() ? "" : " (did you mean '" + near + "'?)") << "\n"
                << kUsage;
      return 2;
    }
  }
  if (config_path.empty() && resume.empty()) {
    std::cerr << "ttt-train: give --config CONFIG.yaml or --resume RUN_DIR\n" << kUsage;
    return 2;
  }
  if (options.dry_run && !resume.empty()) {
    std::cerr << "ttt-train: --dry-run starts nothing to resume; give --config without --resume\n" << kUsage;
    return 2;
  }
  return ttt::cli::guarded_main("ttt-train", [&] {
    if (!depth_text.empty()) options.depth = static_cast<int>(ttt::cli::parse_int("--depth", depth_text, 1, 64));
    if (!resume.empty() && config_path.empty()) {
      config_path = (std::filesystem::path(resume) / "config.yaml").string();
      if (!std::filesystem::exists(config_path))
        ttt::fail("--resume", "'" + resume + "' is not a run directory (no config.yaml in it)");
    }
    options.resume_dir = resume;
    options.faults = ttt::Faults::from_environment();  // the tests' failpoints (train/faults.h); none in normal use
    ttt::TrainConfig config = ttt::load_config(config_path, overrides);
    return ttt::run_training(config, options);
  });
}
