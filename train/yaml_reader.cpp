#include "train/yaml_reader.h"

namespace ttt {

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
  if (!read(key, v, "an integer")) return;
  if (v < min || v > max) {
    problems_.push_back(yaml_place(node(key), path(key)) + ": " + std::to_string(v) + " is out of range [" +
                        std::to_string(min) + ", " + std::to_string(max) + "]");
    return;
  }
  out = v;
}

void YamlSection::get(const char* key, double& out, double min, double max) {
  double v = out;
  if (!read(key, v, "a number")) return;
  if (!(v >= min && v <= max)) {
    problems_.push_back(yaml_place(node(key), path(key)) + ": " + node(key).Scalar() + " is out of range [" +
                        std::to_string(min) + ", " + std::to_string(max) + "]");
    return;
  }
  out = v;
}

void YamlSection::get(const char* key, bool& out) { read(key, out, "true or false"); }

void YamlSection::get(const char* key, std::string& out, const std::vector<std::string>& allowed) {
  std::string v = out;
  if (!read(key, v, "a string")) return;
  if (!allowed.empty()) {
    bool ok = false;
    std::string list;
    for (const auto& a : allowed) {
      ok = ok || a == v;
      list += (list.empty() ? "" : ", ") + a;
    }
    if (!ok) {
      problems_.push_back(yaml_place(node(key), path(key)) + ": '" + v + "' is not one of " + list);
      return;
    }
  }
  out = v;
}

void YamlSection::get(const char* key, std::vector<int64_t>& out) { read(key, out, "a list of integers"); }
void YamlSection::get(const char* key, std::vector<double>& out) { read(key, out, "a list of numbers"); }

void YamlSection::finish() {
  if (!node_.IsMap()) return;
  for (const auto& kv : node_) {
    const std::string key = kv.first.Scalar();
    if (!used_.count(key)) problems_.push_back(yaml_place(kv.first, path_ + "." + key) + ": unknown key '" + key + "'");
  }
}

}  // namespace ttt
