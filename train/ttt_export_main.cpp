// ttt-export: a run's latest checkpoint as a model others load (train/export.h, docs/moshi.md).
//   ttt-export RUN_DIR OUT --format moshi|ttt [--dtype f32|bf16]
#include <iostream>

#include "train/cli.h"
#include "train/export.h"

int main(int argc, char** argv) {
  const std::string usage =
      "usage: ttt-export RUN_DIR OUT --format moshi|ttt [--dtype f32|bf16]\n"
      "  --format moshi  OUT/model.safetensors under Moshi's names + OUT/config.json (the official LMModel loads\n"
      "                  them strictly); TTT branches in OUT/ttt_branches.safetensors\n"
      "  --format ttt    OUT/model.safetensors under ttt.cpp's names\n"
      "  --dtype bf16    store the model in bf16, as Kyutai publishes Moshi (default f32: exact)\n"
      "OUT must be new or an empty folder. Either folder is a valid model.init_from.\n";
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
    std::cout << usage;
    return 0;
  }
  if (args.size() == 1 && args[0] == "--version") {
    std::cout << ttt::cli::version_line("ttt-export") << "\n";
    return 0;
  }
  return ttt::cli::guarded_main("ttt-export", [&] {
    std::vector<std::string> positional;
    std::string format, dtype = "f32";
    for (size_t i = 0; i < args.size(); ++i) {
      if ((args[i] == "--format" || args[i] == "--dtype") && i + 1 < args.size()) {
        (args[i] == "--format" ? format : dtype) = args[i + 1];
        ++i;
      } else if (args[i].rfind("--", 0) == 0) {
        std::cerr << "ttt-export: unknown flag '" << args[i] << "'\n" << usage;
        return 2;
      } else {
        positional.push_back(args[i]);
      }
    }
    if (positional.size() != 2 || format.empty()) {
      std::cerr << usage;
      return 2;
    }
    if (dtype != "f32" && dtype != "bf16") {
      std::cerr << "ttt-export: --dtype must be f32 or bf16, got '" << dtype << "'\n";
      return 2;
    }
    const ttt::ExportFormat f = ttt::parse_enum<ttt::ExportFormat>(format);
    const ttt::ExportResult r =
        ttt::export_run(positional[0], positional[1], f, dtype == "bf16" ? ttt::DType::bf16 : ttt::DType::f32);
    std::cout << "exported " << r.checkpoint << ":\n";
    for (const auto& line : r.lines) std::cout << "  " << line << "\n";
    return 0;
  });
}
