#include "train/yaml_reader.h"

#include <algorithm>
#include <cstdio>

namespace ttt {

namespace {

thread_local std::map<std::string, std::string>* g_resolved = nullptr;

std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

template <class T>
std::string list_text(const std::vector<T>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i)
    s += (i ? ", " : "") + (std::is_same_v<T, double> ? number_text(static_cast<double>(v[i])) : std::to_string(v[i]));
  return s + "]";
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

void find_duplicate_keys(const YAML::Node& node, const std::string& path, Problems& problems) {
  if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) find_duplicate_keys(node[i], path + "[" + std::to_string(i) + "]", problems);
    return;
  }
  if (!node.IsMap()) return;
  std::map<std::string, int> first_line;
  for (const auto& kv : node) {
    const std::string key = kv.first.Scalar(), child = path.empty() ? key : path + "." + key;
    const int line = kv.first.Mark().line + 1;
    if (auto it = first_line.find(key); it != first_line.end())
      problems.push_back(child + ": the key appears twice, on line " + std::to_string(it->second) + " and line " +
                         std::to_string(line) + " (keep one)");
    else
      first_line[key] = line;
    find_duplicate_keys(kv.second, child, problems);
  }
}

std::string nearest_word(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::max<size_t>(2, word.size() / 3) + 1;  // a typo: at most a third of the letters
  for (const auto& c : candidates) {
    const size_t d = edit_distance(word, c);
    if (d < best_d) best_d = d, best = c;
  }
  return best;
}

ResolvedRecorder::ResolvedRecorder(std::map<std::string, std::string>& out) { g_resolved = &out; }
ResolvedRecorder::~ResolvedRecorder() { g_resolved = nullptr; }
void ResolvedRecorder::record(const std::string& path, const std::string& value) {
  if (g_resolved) (*g_resolved)[path] = value;
}

std::string yaml_place(const YAML::Node& node, const std::string& path) {
  if (!node.IsDefined()) return path;
  const YAML::Mark m = node.Mark();
  if (m.line < 0 || m.is_null()) return path + " (command line)";
  return path + " (line " + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) + ")";
}

YamlSection::YamlSection(const YAML::Node& node, std::string path, Problems& problems)
    : node_(node.IsDefined() ? node : YAML::Node()), path_(std::move(path)), problems_(problems) {
  // (a missing key gives an "invalid" node that throws on use; it stands for "not given")
  if (node_.IsDefined() && !node_.IsNull() && !node_.IsMap()) {
    problems_.push_back(yaml_place(node_, path_) + ": expected a map of settings");
    node_ = YAML::Node();
  }
}

YAML::Node YamlSection::node(const char* key) const {
  used_.insert(key);
  const YAML::Node& n = node_;  // const lookup: never inserts the key
  return n.IsMap() && n[key] ? n[key] : YAML::Node(YAML::NodeType::Undefined);
}

template <class T>
bool YamlSection::read(const char* key, T& out, const char* type_name) {
  used_.insert(key);
  if (!node_.IsMap()) return false;
  const YAML::Node& n = node_;
  const YAML::Node v = n[key];
  if (!v) return false;
  try {
    out = v.as<T>();
    return true;
  } catch (const YAML::Exception&) {
    std::string got = v.IsScalar() ? "'" + v.Scalar() + "'" : (v.IsSequence() ? "a list" : v.IsMap() ? "a map" : "nothing");
    problems_.push_back(yaml_place(v, path(key)) + ": expected " + type_name + ", got " + got);
    return false;
  }
}

void YamlSection::get(const char* key, int64_t& out, int64_t min, int64_t max) {
  int64_t v = out;
  ResolvedRecorder::record(path(key), std::to_string(out));
  if (!read(key, v, "an integer")) return;
  if (v < min || v > max) {
    problems_.push_back(yaml_place(node(key), path(key)) + ": " + std::to_string(v) + " is out of range [" + std::to_string(min) +
                        ", " + std::to_string(max) + "]");
    return;
  }
  out = v;
  ResolvedRecorder::record(path(key), std::to_string(out));
}

void YamlSection::get(const char* key, double& out, double min, double max) {
  double v = out;
  ResolvedRecorder::record(path(key), number_text(out));
  if (!read(key, v, "a number")) return;
  if (!(v >= min && v <= max)) {
    problems_.push_back(yaml_place(node(key), path(key)) + ": " + node(key).Scalar() + " is out of range [" +
                        std::to_string(min) + ", " + std::to_string(max) + "]");
    return;
  }
  out = v;
  ResolvedRecorder::record(path(key), number_text(out));
}

void YamlSection::get(const char* key, bool& out) {
  read(key, out, "true or false");
  ResolvedRecorder::record(path(key), out ? "true" : "false");
}

void YamlSection::get(const char* key, std::string& out, const std::vector<std::string>& allowed) {
  std::string v = out;
  ResolvedRecorder::record(path(key), out);
  if (!read(key, v, "a string")) return;
  if (!allowed.empty()) {
    bool ok = false;
    std::string list;
    for (const auto& a : allowed) {
      ok = ok || a == v;
      list += (list.empty() ? "" : ", ") + a;
    }
    if (!ok) {
      const std::string near = nearest_word(v, allowed);
      problems_.push_back(yaml_place(node(key), path(key)) + ": '" + v + "' is not one of " + list +
                          (near.empty() ? "" : " (did you mean '" + near + "'?)"));
      return;
    }
  }
  out = v;
  ResolvedRecorder::record(path(key), out);
}

void YamlSection::get(const char* key, std::vector<int64_t>& out) {
  read(key, out, "a list of integers");
  ResolvedRecorder::record(path(key), list_text(out));
}
void YamlSection::get(const char* key, std::vector<double>& out) {
  read(key, out, "a list of numbers");
  ResolvedRecorder::record(path(key), list_text(out));
}

void YamlSection::record_node(const char* key) {
  const YAML::Node n = node(key);
  if (!n) return ResolvedRecorder::record(path(key), "[]");
  YAML::Emitter e;
  e << YAML::Flow << n;
  ResolvedRecorder::record(path(key), e.c_str());
}

void YamlSection::finish() {
  if (!node_.IsMap()) return;
  for (const auto& kv : node_) {
    const std::string key = kv.first.Scalar();
    if (used_.count(key)) continue;
    const std::string near = nearest_word(key, std::vector<std::string>(used_.begin(), used_.end()));
    problems_.push_back(yaml_place(kv.first, path_ + "." + key) + ": unknown key '" + key + "'" +
                        (near.empty() ? "" : " (did you mean '" + near + "'?)"));
  }
}

}  // namespace ttt
