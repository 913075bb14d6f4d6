// Selecting parameters by name and module kind: the rule language shared by requires_grad
// policies and optimizer parameter groups.
//
// A name pattern is a dotted glob over parameter names:
//   "*"  matches exactly one name segment    ("layers.*.ttt.W1" matches "layers.3.ttt.W1")
//   "**" matches any number of segments, including none ("**.bias" matches "bias", "a.b.bias")
//   inside a segment, '*' matches any characters of that segment ("ttt_norm_*", "w*")
// A kind matches when the parameter's own module or any module above it has that kind
// (kind "TTTMLP" selects every parameter inside a TTTMLP). An empty field matches everything.
#pragma once
#include <string>
#include <vector>

#include "nn/module.h"

namespace ttt::nn {

struct ParamInfo {
  std::string name;                // full dotted name
  std::vector<std::string> kinds;  // kinds of the modules from the root down to its owner
  Tensor tensor;
};

// Every parameter of root with the kinds above it, in named_parameters() order.
std::vector<ParamInfo> param_infos(const Module& root);

bool glob_match(const std::string& pattern, const std::string& dotted_name);

struct Selector {
  std::string name;  // glob; "" = any
  std::string kind;  // module kind; "" = any
  bool matches(const ParamInfo& p) const;
  std::string str() const;  // "name '**.bias' kind 'LayerNorm'"
};

}  // namespace ttt::nn
