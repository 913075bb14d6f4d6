// Errors a user can act on: every failed check names the op, the offending shapes/dtypes/devices,
// and the module path that was active (see ErrorContext), then says what was expected.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ttt {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

// A stack of human-readable scopes ("module layers.3.ttt") prepended to error messages.
// Modules push their path while they run, so a shape error deep in an op says where it happened.
class ErrorContext {
 public:
  explicit ErrorContext(std::string scope);
  ~ErrorContext();
  ErrorContext(const ErrorContext&) = delete;
  ErrorContext& operator=(const ErrorContext&) = delete;
  static std::string current();  // "" when empty, else "in layers.3.ttt: "
};

// Builds the message: "<op>: <what> [in <context>]".
[[noreturn]] void fail(const std::string& op, const std::string& what);

// Variadic message helper: TTT_CHECK(cond, "matmul", "inner dims differ: ", a, " vs ", b).
template <class... Args>
std::string cat_str(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

}  // namespace ttt

#define TTT_CHECK(cond, op, ...)                                 \
  do {                                                           \
    if (!(cond)) ::ttt::fail((op), ::ttt::cat_str(__VA_ARGS__)); \
  } while (0)
