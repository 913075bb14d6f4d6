// Reading YAML maps field by field while collecting every problem with its key path and
// line:column, so a bad config is reported in full, once, before anything is allocated.
#pragma once
#include <yaml-cpp/yaml.h>

#include "core/enum_names.h"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace ttt {

using Problems = std::vector<std::string>;

// "run.max_steps (line 12:14)", or "(command line)" for values set by an override.
std::string yaml_place(const YAML::Node& node, const std::string& path);

// Every key of a YAML tree that appears twice in one map, as "path: line A and line B" problems
// (yaml-cpp would silently keep the first).
void find_duplicate_keys(const YAML::Node& node, const std::string& path, Problems& problems);

// The nearest of `candidates` to `word` by edit distance, when it is close enough to be a likely
// typo ("widht" -> "width"); "" otherwise.
std::string nearest_word(const std::string& word, const std::vector<std::string>& candidates);

// While one of these lives, every YamlSection::get records "path" -> the value it settled on
// (the default when the key was absent): the resolved config that checkpoints store and that
// --resume compares.
class ResolvedRecorder {
 public:
  explicit ResolvedRecorder(std::map<std::string, std::string>& out);
  ~ResolvedRecorder();
  ResolvedRecorder(const ResolvedRecorder&) = delete;
  ResolvedRecorder& operator=(const ResolvedRecorder&) = delete;
  static void record(const std::string& path, const std::string& value);
};

class YamlSection {
 public:
  // A missing section is fine (defaults); a section that is not a map is a problem.
  YamlSection(const YAML::Node& node, std::string path, Problems& problems);

  bool has(const char* key) const {
    const YAML::Node& n = node_;
    return n.IsMap() && n[key];
  }
  YAML::Node node(const char* key) const;
  std::string path(const char* key) const { return path_ + "." + key; }
  Problems& problems() { return problems_; }

  void get(const char* key, int64_t& out, int64_t min, int64_t max);
  void get(const char* key, double& out, double min, double max);
  void get(const char* key, bool& out);
  void get(const char* key, std::string& out, const std::vector<std::string>& allowed = {});
  void get(const char* key, std::vector<int64_t>& out);
  void get(const char* key, std::vector<double>& out);
  // An option with an EnumNames specialisation (core/enum_names.h): read as one of its names.
  template <class E, class = decltype(EnumNames<E>::names)>
  void get(const char* key, E& out) {
    std::string name = enum_name(out);
    const size_t before = problems_.size();
    get(key, name, enum_choices<E>());
    if (problems_.size() == before) out = parse_enum<E>(name);
  }
  void mark(const char* key) { used_.insert(key); }  // read by the caller itself
  // Records a key the caller read itself (a list of rules) in the resolved config, as YAML.
  void record_node(const char* key);
  // Reports every key that no get/mark asked for.
  void finish();

 private:
  template <class T>
  bool read(const char* key, T& out, const char* type_name);
  YAML::Node node_;
  std::string path_;
  Problems& problems_;
  mutable std::set<std::string> used_;
};

}  // namespace ttt
