#include "train/ttt_yaml.h"

#include "core/error.h"

namespace ttt {

TTTConfig read_ttt_config(const YAML::Node& node, const std::string& where, Problems& problems, const TTTConfig& defaults) {
  TTTConfig c = defaults;
  YamlSection s(node, where, problems);
  const int64_t big = int64_t{1} << 40;
  s.get("variant", c.variant);
  s.get("width", c.width, 1, big);
  s.get("heads", c.heads, 1, big);
  s.get("mlp_expansion", c.mlp_expansion, 1, 1024);
  s.get("mlp_dims", c.mlp_dims);
  s.get("mini_batch_size", c.mini_batch_size, 1, 1 << 20);
  s.get("ttt_base_lr", c.ttt_base_lr, 0.0, 1e6);
  s.get("qk_l2_norm", c.qk_l2_norm);
  s.get("rope_positions", c.rope_positions);
  s.get("rope_theta", c.rope_theta, 1e-6, 1e12);
  s.get("target_norm", c.target_norm);
  s.get("lr_gate", c.lr_gate);
  if (s.has("eta_mode") && s.has("minibatch_mode"))
    problems.push_back(yaml_place(s.node("eta_mode"), s.path("eta_mode")) + ": give minibatch_mode or eta_mode, not both");
  s.get("minibatch_mode", c.minibatch_mode);
  s.get("eta_mode", c.minibatch_mode);  // another name for it
  s.get("scan_checkpoint_group", c.scan_checkpoint_group, 0, 1 << 20);
  s.get("scan_form", c.scan_form);
  s.get("use_kernel", c.use_kernel);
  s.get("scan_precision", c.scan_precision);
  s.finish();
  const size_t field_problems = problems.size();
  try {
    validate(c, where);  // cross-field rules (divisibility, mlp_dims ends, ...)
  } catch (const Error& e) {
    if (field_problems == 0) problems.push_back(e.what());  // else they would repeat the field messages
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
  Problems problems;
  TTTConfig c = read_ttt_config(root, "ttt", problems);
  if (!problems.empty()) {
    std::string msg;
    for (const auto& p : problems) msg += "\n  " + p;
    fail(source, std::to_string(problems.size()) + " problem(s) in the TTT config:" + msg);
  }
  return c;
}

}  // namespace ttt
