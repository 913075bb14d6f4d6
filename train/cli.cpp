#include "train/cli.h"

#include <algorithm>
#include <charconv>
#include <iostream>
#include <new>

#include "core/error.h"
#include "train/version.h"
#include "train/yaml_reader.h"

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

int help_or_version(const std::vector<std::string>& args, const std::string& tool, const std::string& usage) {
  if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
    std::cout << usage;
    return 0;
  }
  if (args.size() == 1 && args[0] == "--version") {
    std::cout << version_line(tool) << "\n";
    return 0;
  }
  return -1;
}

Args parse_args(const std::vector<std::string>& args, const std::vector<std::string>& with_value,
                const std::vector<std::string>& switches, const std::string& tool) {
  Args out;
  auto known = [](const std::vector<std::string>& list, const std::string& a) {
    return std::find(list.begin(), list.end(), a) != list.end();
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (known(with_value, a)) {
      TTT_CHECK(i + 1 < args.size(), tool, a, " needs a value");
      out.values[a] = args[++i];
    } else if (known(switches, a)) {
      out.switches.insert(a);
    } else if (a.rfind("--", 0) == 0) {
      std::vector<std::string> all = with_value;
      all.insert(all.end(), switches.begin(), switches.end());
      const std::string near = nearest_word(a, all);
      fail(tool, "unknown flag '" + a + "'" + (near.empty() ? "" : " (did you mean '" + near + "'?)") + "; " + tool +
                     " --help lists them");
    } else {
      out.positional.push_back(a);
    }
  }
  return out;
}

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
