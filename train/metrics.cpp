#include "train/metrics.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "nn/safetensors.h"
#include "train/version.h"

namespace ttt {

namespace fs = std::filesystem;

void append_metrics(const std::string& path, const nlohmann::ordered_json& record) {
  std::ofstream out(path, std::ios::app);
  out << record.dump() << "\n";
  out.flush();
  TTT_CHECK(out.good(), "metrics", "cannot append to ", path);
}

void truncate_metrics(const std::string& path, int64_t step) {
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("step") && j["step"].is_number_integer() && j["step"].get<int64_t>() > step) continue;
    kept += line + "\n";
  }
  nn::write_file_atomically(path, kept);
}

namespace {

fs::path executable_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

std::string first_existing(const std::vector<fs::path>& candidates) {
  std::error_code ec;
  for (const auto& c : candidates)
    if (!c.empty() && fs::is_regular_file(c, ec)) return c.string();
  return "";
}

// Single quotes for sh, with embedded quotes escaped.
std::string shell_quoted(const std::string& s) {
  std::string out = "'";
  for (char ch : s) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

}  // namespace

bool plot_loss_curve(const std::string& metrics, const std::string& png) {
  return run_python_tool("plot_loss.py", {metrics, png});
}

bool run_python_tool(const std::string& name, const std::vector<std::string>& args) {
  const fs::path exe_dir = executable_dir();
  const std::string script = first_existing({exe_dir / "../tools" / name, fs::path(kSourceDir) / "tools" / name});
  if (script.empty()) return false;
  std::string python = "python3";
  if (const char* env = std::getenv("TTT_PYTHON"); env && *env) {
    python = env;
  } else if (std::string venv = first_existing({fs::path(script).parent_path() / "../.venv/bin/python"}); !venv.empty()) {
    python = venv;
  }
  std::string cmd = shell_quoted(python) + " " + shell_quoted(script);
  for (const std::string& a : args) cmd += " " + shell_quoted(a);
  cmd += " > /dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

}  // namespace ttt
