#include "nn/selector.h"

#include <algorithm>
#include <map>

namespace ttt::nn {

namespace {

std::vector<std::string> split_dots(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    out.push_back(s.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return out;
}

// '*' inside one segment: any run of characters.
bool segment_match(const char* p, const char* s) {
  if (*p == '\0') return *s == '\0';
  if (*p == '*') return segment_match(p + 1, s) || (*s != '\0' && segment_match(p, s + 1));
  return *s == *p && segment_match(p + 1, s + 1);
}

bool segments_match(const std::vector<std::string>& pat, size_t i, const std::vector<std::string>& name, size_t j) {
  if (i == pat.size()) return j == name.size();
  if (pat[i] == "**") {
    for (size_t k = j; k <= name.size(); ++k)
      if (segments_match(pat, i + 1, name, k)) return true;
    return false;
  }
  return j < name.size() && segment_match(pat[i].c_str(), name[j].c_str()) && segments_match(pat, i + 1, name, j + 1);
}

}  // namespace

bool glob_match(const std::string& pattern, const std::string& dotted_name) {
  return segments_match(split_dots(pattern), 0, split_dots(dotted_name), 0);
}

std::vector<ParamInfo> param_infos(const Module& root) {
  std::map<std::string, std::string> kind_of;  // module path -> kind
  for (auto& [path, m] : root.named_modules()) kind_of[path] = m->kind();
  std::vector<ParamInfo> out;
  for (auto& [path, m] : root.named_modules()) {
    std::vector<std::string> kinds{root.kind()};
    std::string prefix;
    for (const std::string& seg : path.empty() ? std::vector<std::string>{} : split_dots(path)) {
      prefix += (prefix.empty() ? "" : ".") + seg;
      kinds.push_back(kind_of[prefix]);
    }
    for (auto& [n, t] : m->local_parameters()) out.push_back({path.empty() ? n : path + "." + n, kinds, t});
  }
  // named_modules() visits a module before its children; named_parameters() orders the same way.
  return out;
}

bool Selector::matches(const ParamInfo& p) const {
  if (!name.empty() && !glob_match(name, p.name)) return false;
  if (!kind.empty() && std::find(p.kinds.begin(), p.kinds.end(), kind) == p.kinds.end()) return false;
  return true;
}

std::string Selector::str() const {
  std::string s;
  if (!name.empty()) s += "name '" + name + "'";
  if (!kind.empty()) s += std::string(s.empty() ? "" : " ") + "kind '" + kind + "'";
  return s.empty() ? "everything" : s;
}

}  // namespace ttt::nn
