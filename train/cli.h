// What the three command-line tools share: strict number parsing (all of the text must be the
// number: "abc", "12x" and "" are errors), the --version line, and the top-level guard that turns
// every exception into a message and exit code 1.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace ttt::cli {

int64_t parse_int(const std::string& flag, const std::string& text, int64_t min, int64_t max);

// "ttt-train 0.1.0 (commit 1a2b3c4d5e6f)".
std::string version_line(const std::string& tool);

// A lone --help / -h (prints `usage`) or --version: returns 0 after printing; -1 for anything else.
int help_or_version(const std::vector<std::string>& args, const std::string& tool, const std::string& usage);

// The command line of a tool: flags that take a value (`--steps 8`), switches (`--greedy`), and the
// rest positional. A flag it does not know is an error that names it, with the nearest known one.
struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;
  std::set<std::string> switches;
  bool has(const std::string& flag) const { return values.count(flag) || switches.count(flag); }
  std::string get(const std::string& flag, const std::string& fallback) const {
    auto it = values.find(flag);
    return it == values.end() ? fallback : it->second;
  }
};
Args parse_args(const std::vector<std::string>& args, const std::vector<std::string>& with_value,
                const std::vector<std::string>& switches, const std::string& tool);

// Runs body; a ttt::Error, std::exception or anything else thrown becomes "<tool>: error: ..."
// on stderr and exit code 1. Never lets an exception reach std::terminate.
int guarded_main(const std::string& tool, const std::function<int()>& body);

}  // namespace ttt::cli
