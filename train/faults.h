// Fault injection for the reliability tests, behind one seam: ttt-train's and ttt-export's mains
// read the environment variable TTT_FAULT once (Faults::from_environment) and hand the result
// down; no other code reads it. TTT_FAULT lists failpoints as name:step pairs, e.g.
// TTT_FAULT=nan_grad:3,kill_in_checkpoint:4.
//   nan_grad:N             after the backward of step N, the first trainable gradient becomes NaN
//   kill_in_checkpoint:N   the process SIGKILLs itself half-way through writing step N's checkpoint
//   kill_at_step:N         the process SIGKILLs itself as step N begins (a rank that dies, several GPUs)
//   sigint_in_export:N     ttt-export sends itself SIGINT once it has written its N-th file
// Empty in normal use.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <utility>

namespace ttt {

class Faults {
 public:
  Faults() = default;
  // Parses "name:step,name:step"; throws ttt::Error on a malformed entry or an unknown name.
  static Faults parse(const std::string& spec);
  static Faults from_environment();
  bool at(const std::string& name, int64_t step) const { return points_.count({name, step}) > 0; }

 private:
  std::set<std::pair<std::string, int64_t>> points_;
};

}  // namespace ttt
