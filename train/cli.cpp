#include "train/cli.h"

#include <charconv>
#include <iostream>
#include <new>

#include "core/error.h"
#include "train/version.h"

namespace ttt::cli {

int64_t parse_int(const std::string& flag, const std::string& text, int64_t min, int64_t max) {
  int64_t v = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  TTT_CHECK(ec != std::errc::result_out_of_range, flag, "'", text, "' is out of range [", min, ", ", max, "]");
  TTT_CHECK(ec == std::errc() && ptr == end && !text.empty(), flag, "expected an integer, got '", text, "'");
  TTT_CHECK(v >= min && v <= max, flag, v, " is out of range [", min, ", ", max, "]");
  return v;
}

std::string version_line(const std::string& tool) { return tool + " " + kVersion + " (commit " + kGitCommit + ")"; }

int guarded_main(const std::string& tool, const std::function<int()>& body) {
  try {
    return body();
  } catch (const Error& e) {
    std::cerr << tool << ": error: " << e.what() << "\n";
  } catch (const std::bad_alloc&) {
    std::cerr << tool << ": error: out of host memory\n";
  } catch (const std::exception& e) {
    std::cerr << tool << ": error: " << e.what() << "\n";
  } catch (...) {
    std::cerr << tool << ": error: an unknown exception\n";
  }
  return 1;
}

}  // namespace ttt::cli
