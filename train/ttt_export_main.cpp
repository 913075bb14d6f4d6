// ttt-export: a run's latest checkpoint as a model others load (train/export.h, docs/moshi.md).
//   ttt-export RUN_DIR OUT --format moshi|ttt [--dtype f32|bf16]
#include <iostream>

#include "train/cli.h"
#include "train/export.h"
#include "train/stop_signal.h"

int main(int argc, char** argv) {
  const std::string usage =
      "usage: ttt-export RUN_DIR OUT --format moshi|ttt [--dtype f32|bf16]\n"
      "  --format moshi  OUT/model.safetensors under Moshi's names + OUT/config.json (the official LMModel loads\n"
      "                  them strictly); TTT branches in OUT/ttt_branches.safetensors\n"
      "  --format ttt    OUT/model.safetensors under ttt.cpp's names\n"
      "  --dtype bf16    store the model in bf16, as Kyutai publishes Moshi (default f32: exact)\n"
      "OUT must be new or an empty folder. Either folder is a valid model.init_from.\n";
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (const int code = ttt::cli::help_or_version(args, "ttt-export", usage); code >= 0) return code;
  return ttt::cli::guarded_main("ttt-export", [&] {
    const ttt::cli::Args a = ttt::cli::parse_args(args, {"--format", "--dtype"}, {}, "ttt-export");
    const std::vector<std::string>& positional = a.positional;
    const std::string format = a.get("--format", ""), dtype = a.get("--dtype", "f32");
    if (positional.size() != 2 || format.empty()) {
      std::cerr << usage;
      return 2;
    }
    if (dtype != "f32" && dtype != "bf16") {
      std::cerr << "ttt-export: --dtype must be f32 or bf16, got '" << dtype << "'\n";
      return 2;
    }
    const ttt::ExportFormat f = ttt::parse_enum<ttt::ExportFormat>(format);
    const ttt::ExportResult r = ttt::export_run(
        positional[0], positional[1], f, dtype == "bf16" ? ttt::DType::bf16 : ttt::DType::f32, ttt::Faults::from_environment());
    if (r.stopped_by != 0) {
      std::cerr << "ttt-export: stopped by " << ttt::StopSignals::name(r.stopped_by) << "; the files it had written to "
                << positional[1] << " were removed\n";
      return 128 + r.stopped_by;
    }
    std::cout << "exported " << r.checkpoint << ":\n";
    for (const auto& line : r.lines) std::cout << "  " << line << "\n";
    return 0;
  });
}
