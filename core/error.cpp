#include "core/error.h"

namespace ttt {

namespace {
thread_local std::vector<std::string> g_scopes;
}

ErrorContext::ErrorContext(std::string scope) { g_scopes.push_back(std::move(scope)); }
ErrorContext::~ErrorContext() { g_scopes.pop_back(); }

std::string ErrorContext::current() {
  if (g_scopes.empty()) return "";
  std::string s = "in ";
  for (size_t i = 0; i < g_scopes.size(); ++i) s += (i ? " > " : "") + g_scopes[i];
  return s + ": ";
}

void fail(const std::string& op, const std::string& what) { throw Error(ErrorContext::current() + op + ": " + what); }

}  // namespace ttt
