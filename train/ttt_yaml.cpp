#include "train/ttt_yaml.h"

#include <yaml-cpp/yaml.h>

#include <set>

#include "core/error.h"

namespace ttt {

namespace {

std::string at(const YAML::Node& n, const std::string& path) {
  const YAML::Mark m = n.Mark();
  if (m.line < 0) return path;
  return path + " (line " + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) + ")";
}

// Collects problems instead of throwing at the first one.
struct Reader {
  const YAML::Node& node;
  std::string where;
  std::vector<std::string> problems;

  template <class T>
  void get(const char* key, T& out, const char* type_name) {
    const YAML::Node v = node[key];
    if (!v) return;
    try {
      out = v.as<T>();
    } catch (const YAML::Exception&) {
      problems.push_back(at(v, where + "." + key) + ": expected " + type_name + ", got '" +
                         (v.IsScalar() ? v.Scalar() : std::string(v.IsSequence() ? "a list" : "a map")) + "'");
    }
  }
};

}  // namespace

TTTConfig ttt_config_from_yaml(const YAML::Node& node, const std::string& where) {
  TTT_CHECK(node.IsMap(), where, "expected a map of TTT options", node.IsDefined() ? " at " + at(node, where) : "");
  static const std::set<std::string> known = {
      "variant", "width", "heads", "mlp_expansion", "mlp_dims", "mini_batch_size", "ttt_base_lr", "qk_l2_norm",
      "rope_positions", "rope_theta", "target_norm", "lr_gate", "minibatch_mode", "eta_mode",
      "scan_checkpoint_group", "scan_form", "use_kernel"};
  Reader r{node, where, {}};
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    if (!known.count(key)) r.problems.push_back(at(kv.first, where + "." + key) + ": unknown key '" + key + "'");
  }
  TTTConfig c;
  r.get("variant", c.variant, "a string");
  r.get("width", c.width, "an integer");
  r.get("heads", c.heads, "an integer");
  r.get("mlp_expansion", c.mlp_expansion, "an integer");
  r.get("mlp_dims", c.mlp_dims, "a list of integers");
  r.get("mini_batch_size", c.mini_batch_size, "an integer");
  r.get("ttt_base_lr", c.ttt_base_lr, "a number");
  r.get("qk_l2_norm", c.qk_l2_norm, "true or false");
  r.get("rope_positions", c.rope_positions, "a string");
  r.get("rope_theta", c.rope_theta, "a number");
  r.get("target_norm", c.target_norm, "true or false");
  r.get("lr_gate", c.lr_gate, "a string");
  r.get("minibatch_mode", c.minibatch_mode, "a string");
  r.get("eta_mode", c.minibatch_mode, "a string");  // the name some issues use
  r.get("scan_checkpoint_group", c.scan_checkpoint_group, "an integer");
  r.get("scan_form", c.scan_form, "a string");
  r.get("use_kernel", c.use_kernel, "true or false");
  if (node["eta_mode"] && node["minibatch_mode"])
    r.problems.push_back(at(node["eta_mode"], where + ".eta_mode") + ": give minibatch_mode or eta_mode, not both");
  if (r.problems.empty()) {
    try {
      validate(c, where);
    } catch (const Error& e) {
      r.problems.push_back(e.what());
    }
  }
  if (!r.problems.empty()) {
    std::string msg;
    for (const auto& p : r.problems) msg += "\n  " + p;
    fail(where, std::to_string(r.problems.size()) + " problem(s) in the TTT config:" + msg);
  }
  return c;
}

TTTConfig ttt_config_from_yaml_text(const std::string& text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail(source, "not valid YAML: " + std::string(e.what()));
  }
  TTT_CHECK(root.IsDefined() && !root.IsNull(), source, "the file is empty");
  return ttt_config_from_yaml(root, source);
}

}  // namespace ttt
