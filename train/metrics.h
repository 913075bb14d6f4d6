// RUN_DIR/metrics.jsonl (one JSON object per line: a logged step, an evaluation, a skipped step)
// and the loss curve drawn from it.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ttt {

// Appends one record (written by the JSON library: a NaN becomes null, never invalid JSON).
void append_metrics(const std::string& path, const nlohmann::ordered_json& record);

// Keeps the records up to `step`: what a stopped run wrote after its last checkpoint is dropped
// when it resumes. Lines that are not JSON objects with an integer step are kept as they are.
void truncate_metrics(const std::string& path, int64_t step);

// Draws metrics.jsonl into `png` with tools/plot_loss.py, found next to the executable
// (build/ttt-train -> tools/) or in the source tree it was built from; Python from TTT_PYTHON,
// the source tree's .venv, or python3. Returns false (and draws nothing) when either is missing.
bool plot_loss_curve(const std::string& metrics, const std::string& png);

// Runs tools/<name> (found and run as above) with `args`; false when it is missing or fails.
bool run_python_tool(const std::string& name, const std::vector<std::string>& args);

}  // namespace ttt
