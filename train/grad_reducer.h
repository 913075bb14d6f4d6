// The gradients' all-reduce of a data-parallel step (several GPUs): every trainable gradient summed
// across the ranks. Overlapped (run.overlap_reduce, the default): backward tells each completed
// gradient (autograd/engine.h), and each full bucket (train/grad_buckets.h) is summed on a side
// stream while the rest of backward runs; the first step records the order gradients complete in
// and reduces after backward, and its order becomes the plan. Not overlapped: everything after
// backward, as one NCCL group. With run.reduce_dtype=bf16 the sums travel in bf16.
#pragma once
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "autograd/engine.h"
#include "core/collectives.h"
#include "train/grad_buckets.h"

namespace ttt {

class GradientReducer {
 public:
  struct Options {
    bool overlap = true;
    bool bf16 = false;  // sum in bf16 (half the traffic) instead of the gradients' dtype
    int64_t bucket_bytes = 25 << 20;
  };
  // `params`: every parameter (the frozen ones are skipped: they have no gradient to reduce)
  GradientReducer(Collectives& collectives, const std::vector<Tensor>& params, Options options);

  // The hook for the backward whose gradients are the step's last (the last micro-batch); an empty
  // function when this step does not overlap (then finish() reduces everything).
  LeafGradReady hook();
  // After that backward: the buckets left, then the wait; every gradient is now the ranks' sum.
  void finish();

  // The last overlapped step's figures ("" before one): summing time, and how much of it hid
  // behind backward.
  std::string last_overlap_str() const;
  const Collectives::OverlapTimes& last_times() const { return times_; }
  const BucketPlan& plan() const { return schedule_.plan(); }

 private:
  void gradient_complete(AutogradMeta& leaf);
  void launch(size_t bucket);

  Collectives& collectives_;
  Options options_;
  std::vector<Tensor> trainable_;                       // the parameters whose gradients are summed
  std::unordered_map<AutogradMeta*, size_t> index_of_;  // a trainable parameter's place in trainable_
  std::vector<size_t> completion_order_;                // the first step's, recorded
  bool planned_ = false;
  bool hooked_ = false;  // this step's backward has the hook: buckets launched while it ran
  BucketSchedule schedule_;
  std::vector<std::vector<Tensor>> in_flight_;  // per launched bucket: what NCCL sums (bf16 copies, or the gradients)
  std::vector<size_t> in_flight_bucket_;
  Collectives::OverlapTimes times_;
};

}  // namespace ttt
