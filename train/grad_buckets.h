// Data parallelism's gradient buckets, as PyTorch DDP's: the trainable parameters grouped, in the
// order backward completes their gradients, into buckets of about run.bucket_mb. A bucket's
// all-reduce is launched as soon as its last gradient is complete (autograd/engine.h tells), on a
// side stream, while the rest of backward runs (train/grad_reducer.h).
//
// NCCL needs every rank to issue the same collectives in the same order, whatever the timing: so
// bucket k launches only after buckets 0..k-1, and the plan is the same on every rank (it comes from
// the first step's completion order, which the graph alone decides: same model, same order).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ttt {

struct BucketPlan {
  std::vector<std::vector<size_t>> buckets;  // parameter indices, each bucket in completion order
  std::string str() const;                   // "3 buckets of 4, 2, 1 gradients"
};

// `completion_order` (indices into `bytes`) cut into consecutive buckets that each reach
// `bucket_bytes` (the last may be smaller); indices absent from it (no gradient when the order was
// recorded) form one last bucket, in index order.
BucketPlan plan_buckets(const std::vector<size_t>& completion_order, const std::vector<int64_t>& bytes, int64_t bucket_bytes);

// Which buckets may launch, as gradients complete during one backward.
class BucketSchedule {
 public:
  BucketSchedule() = default;
  BucketSchedule(BucketPlan plan, size_t num_params);

  void start();  // before a backward: every bucket waits for all its gradients again
  // Parameter `index`'s gradient is complete: the buckets that may launch now, in order (the one it
  // completes, if every earlier bucket has launched, and the complete ones after it).
  std::vector<size_t> complete(size_t index);
  // After backward: the buckets not launched yet, in order (a gradient that never completed,
  // because no path reached it this step, is reduced as it stands).
  std::vector<size_t> rest();

  const BucketPlan& plan() const { return plan_; }

 private:
  BucketPlan plan_;
  std::vector<size_t> bucket_of_;  // per parameter
  std::vector<size_t> waiting_;    // per bucket: gradients not complete yet
  std::vector<bool> complete_;     // per parameter, this backward
  size_t next_ = 0;                // the first bucket not launched
};

}  // namespace ttt
