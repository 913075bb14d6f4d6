// requires_grad policies as data: an ordered list of rules, each selecting parameters by name
// glob and/or module kind (nn/selector.h) and saying train or freeze. Later rules win. Applying a
// policy returns a report that says, per rule, how much it matched and, per parameter, which rule
// decided it, so a rule written for names that do not exist cannot silently freeze anything:
// a rule matching nothing is an error, and an expected trainable count that differs is an error.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "nn/selector.h"

namespace ttt::nn {

struct PolicyRule {
  Selector select;
  bool requires_grad = true;
  std::string str() const;  // "train name '**.weights.*'"
};

struct RequiresGradPolicy {
  std::vector<PolicyRule> rules;
  std::optional<int64_t> expected_trainable;  // elements; checked after the rules
};

struct PolicyReport {
  struct RuleMatch {
    PolicyRule rule;
    int64_t params = 0, elements = 0;  // everything the rule matched (later rules may override)
    int64_t decided = 0;               // parameters for which it was the last matching rule
  };
  struct Decision {
    std::string name;
    int64_t elements = 0;
    bool trainable = false;
    int rule = -1;  // index of the deciding rule; -1 = no rule matched (registration default)
  };
  std::vector<RuleMatch> rules;
  std::vector<Decision> params;
  int64_t total_elements = 0, trainable_elements = 0;
  std::string str() const;  // the rule table and the totals
};

// 1234567 -> "1,234,567" (the tables' numbers).
std::string with_commas(int64_t n);

// Sets requires_grad on every parameter of root. Throws (changing nothing) when a rule matches
// no parameter, or when the trainable count differs from policy.expected_trainable.
PolicyReport apply_policy(Module& root, const RequiresGradPolicy& policy);

// Per module (down to max_depth levels; deeper modules are folded into their ancestor):
// total / trainable / frozen elements, then grand totals. The rows of each level add up to the
// level above, and the grand total equals the sum over all parameters.
std::string parameter_table(const Module& root, int max_depth = 2);

// After a backward: trainable parameters whose gradient is missing or entirely zero, the
// symptom of a parameter used in no loss path. Empty when every trainable parameter got one.
struct GradFlowProblem {
  std::string name;
  std::string problem;  // "no gradient" or "gradient is all zeros"
};
std::vector<GradFlowProblem> audit_gradient_flow(const Module& root);
std::string format_gradient_flow(const std::vector<GradFlowProblem>& problems);

}  // namespace ttt::nn
