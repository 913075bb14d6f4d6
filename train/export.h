// ttt-export: a run's latest checkpoint as a model others load.
//   --format moshi  OUT/model.safetensors under Moshi's names, which the official package's LMModel
//                   loads strictly with OUT/config.json (its options); the TTT branches, which
//                   Moshi has no place for, go to OUT/ttt_branches.safetensors under our names
//                   (layers.{i}.ttt.*, layers.{i}.forward_ssm_gating.*: docs/moshi.md)
//   --format ttt    OUT/model.safetensors, every parameter under our names
// Both write OUT/ttt_config.yaml, the run's config, and the checksums of every tensor in the
// safetensors metadata. OUT must be new or an empty folder: nothing is overwritten. A folder
// written by --format moshi or ttt is itself a valid model.init_from (train/init_from.h).
#pragma once
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/enum_names.h"
#include "train/faults.h"

namespace ttt {

enum class ExportFormat { moshi, ttt };

template <>
struct EnumNames<ExportFormat> {
  static constexpr const char* what = "--format";
  static constexpr std::pair<ExportFormat, const char*> names[] = {{ExportFormat::moshi, "moshi"}, {ExportFormat::ttt, "ttt"}};
};

inline constexpr const char* kExportModelFile = "model.safetensors";
inline constexpr const char* kExportTttFile = "ttt_branches.safetensors";

struct ExportResult {
  std::string checkpoint;          // the folder exported
  std::vector<std::string> lines;  // one per file written
  int stopped_by = 0;              // a signal that stopped the export (its files removed again), else 0
};

// `store`: f32, or bf16 (half the bytes, as Kyutai publishes Moshi; TTT branches stay f32).
// SIGINT, SIGTERM or SIGHUP stop the export after the file being written: the files it wrote go
// (and OUT, if it made it) and stopped_by says which signal; a second signal exits at once.
ExportResult export_run(const std::string& run_dir, const std::string& out_dir, ExportFormat format, DType store = DType::f32,
                        const Faults& faults = {});

}  // namespace ttt
