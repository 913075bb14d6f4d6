// What the three command-line tools share: strict number parsing (all of the text must be the
// number: "abc", "12x" and "" are errors), the --version line, and the top-level guard that turns
// every exception into a message and exit code 1.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace ttt::cli {

int64_t parse_int(const std::string& flag, const std::string& text, int64_t min, int64_t max);

// "ttt-train 0.1.0 (commit 1a2b3c4d5e6f)".
std::string version_line(const std::string& tool);

// Runs body; a ttt::Error, std::exception or anything else thrown becomes "<tool>: error: ..."
// on stderr and exit code 1. Never lets an exception reach std::terminate.
int guarded_main(const std::string& tool, const std::function<int()>& body);

}  // namespace ttt::cli
