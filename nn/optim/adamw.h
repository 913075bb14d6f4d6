// AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization"), exactly PyTorch's
// torch.optim.AdamW update for each trainable parameter p with gradient g at step t (from 1):
//   p <- p (1 - lr wd)                                  decoupled weight decay
//   m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2
//   p <- p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// Parameter groups are chosen with the selector language of requires_grad policies
// (nn/selector.h): each group rule may set its own weight decay and a learning-rate multiplier;
// later rules win. Frozen parameters get no state and are never touched. All trainable
// parameters are updated by one fused kernel launch on the GPU.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "nn/selector.h"

namespace ttt::nn {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.01;  // default for parameters no group rule changes
};

// ZeRO-1 (run.shard_optimizer, several GPUs): each trainable parameter is owned by one rank, which
// alone keeps its AdamW state and updates it; the owners then broadcast the new values. Owners are
// dealt largest parameter first to the least loaded rank (ties: the lower rank), so every rank
// computes the same assignment and each holds about 1/world of the state.
struct OptimizerShard {
  int rank = 0, world = 1;
};

struct ParamGroupRule {
  Selector select;
  std::optional<double> weight_decay;
  std::optional<double> lr_scale;
  std::string str() const;
};

class AdamW {
 public:
  // Takes the parameters of `model` that require grad now (apply the policy first).
  AdamW(const Module& model, AdamWOptions options, std::vector<ParamGroupRule> groups = {}, OptimizerShard shard = {});

  // One update with learning rate lr (times each group's multiplier). grad_scale: an optional
  // one-element tensor multiplying every gradient (the clipping coefficient, kept on the device).
  // Trainable parameters without a gradient are skipped, like PyTorch.
  void step(double lr, const Tensor& grad_scale = Tensor());
  void zero_grad();
  int64_t steps() const { return step_; }

  // "step" plus "exp_avg.<param>" and "exp_avg_sq.<param>" for every managed parameter (sharded:
  // those this rank owns). Loading takes a full state (a checkpoint) and keeps this rank's part.
  std::vector<NamedTensor> state_dict() const;
  void load_state_dict(const std::vector<NamedTensor>& state);

  // Sharded: every trainable parameter in state_dict's order, with the rank that owns it.
  struct Owned {
    std::string name;
    Tensor param;
    int owner = 0;
  };
  std::vector<Owned> owners() const;
  const OptimizerShard& shard() const { return shard_; }

  // Which parameters went into which group: one line per parameter setting that differs.
  std::string groups_report() const;
  size_t num_managed() const { return params_.size(); }

 private:
  struct Managed {
    std::string name;
    Tensor param, exp_avg, exp_avg_sq;
    double weight_decay = 0, lr_scale = 1;
    int group = -1;  // deciding group rule, -1 = defaults
    int owner = 0;   // the rank that keeps this state (ZeRO-1); others hold no exp_avg / exp_avg_sq
  };
  bool mine(const Managed& m) const { return m.owner == shard_.rank; }
  AdamWOptions options_;
  std::vector<ParamGroupRule> groups_;
  std::vector<Managed> params_;
  OptimizerShard shard_;
  int64_t step_ = 0;
};

}  // namespace ttt::nn
