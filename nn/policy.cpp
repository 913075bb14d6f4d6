#include "nn/policy.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

#include "core/compute.h"
#include "core/error.h"

namespace ttt::nn {

std::string with_commas(int64_t n) {
  std::string s = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return (n < 0 ? "-" : "") + out;
}

std::string PolicyRule::str() const { return std::string(requires_grad ? "train " : "freeze ") + select.str(); }

std::string PolicyReport::str() const {
  std::ostringstream os;
  os << "requires_grad policy (later rules win):\n";
  char line[512];
  std::snprintf(line, sizeof line, "  %-4s %-48s %10s %16s %10s\n", "#", "rule", "params", "elements", "decides");
  os << line;
  for (size_t i = 0; i < rules.size(); ++i) {
    std::snprintf(line, sizeof line, "  %-4zu %-48s %10lld %16s %10lld\n", i, rules[i].rule.str().c_str(),
                  static_cast<long long>(rules[i].params), with_commas(rules[i].elements).c_str(),
                  static_cast<long long>(rules[i].decided));
    os << line;
  }
  int64_t undecided = 0;
  for (const auto& p : params) undecided += p.rule < 0;
  if (undecided) os << "  " << undecided << " parameter(s) matched no rule and keep their default (trainable)\n";
  os << "  trainable " << with_commas(trainable_elements) << " of " << with_commas(total_elements) << " elements, frozen "
     << with_commas(total_elements - trainable_elements) << "\n";
  return os.str();
}

PolicyReport apply_policy(Module& root, const RequiresGradPolicy& policy) {
  std::vector<ParamInfo> infos = param_infos(root);
  PolicyReport report;
  for (const auto& r : policy.rules) report.rules.push_back({r, 0, 0, 0});
  std::vector<bool> trainable;
  for (const ParamInfo& p : infos) {
    PolicyReport::Decision d{p.name, p.tensor.numel(), p.tensor.requires_grad(), -1};
    for (size_t i = 0; i < policy.rules.size(); ++i) {
      if (!policy.rules[i].select.matches(p)) continue;
      report.rules[i].params += 1;
      report.rules[i].elements += p.tensor.numel();
      d.rule = static_cast<int>(i);
      d.trainable = policy.rules[i].requires_grad;
    }
    if (d.rule >= 0)
      report.rules[d.rule].decided += 1;
    else
      d.trainable = true;  // registration default
    report.total_elements += d.elements;
    if (d.trainable) report.trainable_elements += d.elements;
    report.params.push_back(d);
  }
  for (size_t i = 0; i < report.rules.size(); ++i)
    TTT_CHECK(report.rules[i].params > 0, "requires_grad policy", "rule ", i, " (", report.rules[i].rule.str(),
              ") matches no parameter of ", root.kind(), ". Parameter names look like '",
              infos.empty() ? std::string("<none>") : infos.front().name,
              "'; a rule that matches nothing usually means it was written for other names.\n", report.str());
  if (policy.expected_trainable && *policy.expected_trainable != report.trainable_elements)
    fail("requires_grad policy", cat_str("the policy leaves ", with_commas(report.trainable_elements),
                                         " trainable elements but the config expects ", with_commas(*policy.expected_trainable),
                                         " (difference ", with_commas(report.trainable_elements - *policy.expected_trainable),
                                         ")\n", report.str(), parameter_table(root, 3)));
  for (size_t i = 0; i < infos.size(); ++i) infos[i].tensor.set_requires_grad(report.params[i].trainable);
  return report;
}

std::string parameter_table(const Module& root, int max_depth) {
  struct Row {
    std::string label;
    int depth;
    int64_t total = 0, trainable = 0;
  };
  std::map<std::string, Row> rows;  // module path -> counts over its subtree
  std::map<std::string, bool> has_children, is_list;
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::string>> direct;  // module path -> its own parameters' rows
  for (auto& [path, m] : root.named_modules()) {
    const int depth = path.empty() ? 0 : 1 + static_cast<int>(std::count(path.begin(), path.end(), '.'));
    has_children[path] = false;
    is_list[path] = m->kind() == "ParameterList";
    if (!path.empty())
      has_children[path.substr(0, path.find_last_of('.') == std::string::npos ? 0 : path.find_last_of('.'))] = true;
    if (depth > max_depth) continue;
    rows[path] = {(path.empty() ? "<root>" : path.substr(path.find_last_of('.') + 1)) + " (" + m->kind() + ")", depth};
    order.push_back(path);
  }
  int64_t grand_total = 0, grand_trainable = 0;
  for (const ParamInfo& p : param_infos(root)) {
    const int64_t n = p.tensor.numel(), t = p.tensor.requires_grad() ? n : 0;
    grand_total += n;
    grand_trainable += t;
    // the owning module: the longest prefix of the name that is a module ("ttt" owns "ttt.weights.0")
    std::string owner = p.name;
    do {
      const size_t dot = owner.find_last_of('.');
      owner = dot == std::string::npos ? "" : owner.substr(0, dot);
    } while (!owner.empty() && !has_children.count(owner));
    // a module with sub-modules and parameters of its own (a TTT layer: the inner model's weights,
    // the step-size gate, the norm), and a ParameterList (weights.0, weights.1, ...), list those
    // parameters as rows of their own
    auto owner_row = rows.find(owner);
    if (owner_row != rows.end() && (has_children[owner] || is_list[owner]) && owner_row->second.depth < max_depth) {
      const std::string key = owner + "\x01" + p.name;  // sorts after the owner, before its children
      rows[key] = {p.name.substr(owner.empty() ? 0 : owner.size() + 1) + " " + shape_str(p.tensor.shape()),
                   owner_row->second.depth + 1, n, t};
      direct[owner].push_back(key);
    }
    // credit the owning module and each ancestor shown in the table
    std::string path = owner;
    while (true) {
      auto it = rows.find(path);
      if (it != rows.end()) {
        it->second.total += n;
        it->second.trainable += t;
      }
      if (path.empty()) break;
      const size_t dot = path.find_last_of('.');
      path = dot == std::string::npos ? "" : path.substr(0, dot);
    }
  }
  std::ostringstream os;
  char line[512];
  std::snprintf(line, sizeof line, "%-56s %16s %16s %16s\n", "module (kind) / parameter [shape]", "total", "trainable", "frozen");
  os << line;
  auto print_row = [&](const Row& r) {
    const std::string label = std::string(2 * r.depth, ' ') + r.label;
    std::snprintf(line, sizeof line, "%-56s %16s %16s %16s\n", label.c_str(), with_commas(r.total).c_str(),
                  with_commas(r.trainable).c_str(), with_commas(r.total - r.trainable).c_str());
    os << line;
  };
  for (const std::string& path : order) {
    print_row(rows[path]);
    for (const std::string& key : direct[path]) print_row(rows[key]);
  }
  std::snprintf(line, sizeof line, "%-56s %16s %16s %16s\n", "TOTAL", with_commas(grand_total).c_str(),
                with_commas(grand_trainable).c_str(), with_commas(grand_total - grand_trainable).c_str());
  os << line;
  return os.str();
}

std::vector<GradFlowProblem> audit_gradient_flow(const Module& root) {
  std::vector<GradFlowProblem> problems;
  for (auto& [name, t] : root.named_parameters()) {
    if (!t.requires_grad()) continue;
    Tensor g = t.grad();
    if (!g.defined()) {
      problems.push_back({name, "no gradient"});
      continue;
    }
    if (g.device().is_meta() || g.numel() == 0) continue;
    Tensor gmax = compute::reduce(ReduceOp::max, compute::unary(UnaryOp::abs, g), {}, false);
    if (gmax.item<double>() == 0.0) problems.push_back({name, "gradient is all zeros"});
  }
  return problems;
}

std::string format_gradient_flow(const std::vector<GradFlowProblem>& problems) {
  if (problems.empty()) return "gradient flow: every trainable parameter received a non-zero gradient\n";
  std::ostringstream os;
  os << "gradient flow: " << problems.size()
     << " trainable parameter(s) received no usable gradient (used in no loss path, or frozen upstream):\n";
  for (const auto& p : problems) os << "  " << p.name << ": " << p.problem << "\n";
  return os.str();
}

}  // namespace ttt::nn
