#include "train/grad_buckets.h"

#include "core/error.h"

namespace ttt {

std::string BucketPlan::str() const {
  std::string s = std::to_string(buckets.size()) + (buckets.size() == 1 ? " bucket of " : " buckets of ");
  for (size_t b = 0; b < buckets.size(); ++b) s += (b ? ", " : "") + std::to_string(buckets[b].size());
  return s + " gradients";
}

BucketPlan plan_buckets(const std::vector<size_t>& completion_order, const std::vector<int64_t>& bytes, int64_t bucket_bytes) {
  TTT_CHECK(bucket_bytes > 0, "plan_buckets", "a bucket needs a positive size, got ", bucket_bytes, " bytes");
  BucketPlan plan;
  std::vector<bool> placed(bytes.size(), false);
  std::vector<size_t> current;
  int64_t current_bytes = 0;
  auto close = [&] {
    if (!current.empty()) plan.buckets.push_back(std::move(current));
    current.clear();
    current_bytes = 0;
  };
  for (size_t index : completion_order) {
    TTT_CHECK(index < bytes.size() && !placed[index], "plan_buckets", "parameter ", index,
              index < bytes.size() ? " appears twice in the completion order" : " is out of range");
    placed[index] = true;
    current.push_back(index);
    current_bytes += bytes[index];
    if (current_bytes >= bucket_bytes) close();
  }
  close();
  for (size_t i = 0; i < bytes.size(); ++i)
    if (!placed[i]) current.push_back(i);
  close();
  return plan;
}

BucketSchedule::BucketSchedule(BucketPlan plan, size_t num_params) : plan_(std::move(plan)), bucket_of_(num_params, SIZE_MAX) {
  for (size_t b = 0; b < plan_.buckets.size(); ++b)
    for (size_t index : plan_.buckets[b]) {
      TTT_CHECK(index < num_params && bucket_of_[index] == SIZE_MAX, "BucketSchedule", "parameter ", index,
                " is out of range or in two buckets");
      bucket_of_[index] = b;
    }
  for (size_t i = 0; i < num_params; ++i)
    TTT_CHECK(bucket_of_[i] != SIZE_MAX, "BucketSchedule", "parameter ", i, " is in no bucket");
  start();
}

void BucketSchedule::start() {
  waiting_.clear();
  for (const auto& bucket : plan_.buckets) waiting_.push_back(bucket.size());
  complete_.assign(bucket_of_.size(), false);
  next_ = 0;
}

std::vector<size_t> BucketSchedule::complete(size_t index) {
  TTT_CHECK(index < bucket_of_.size(), "BucketSchedule", "parameter ", index, " is out of range");
  TTT_CHECK(!complete_[index], "BucketSchedule", "parameter ", index, "'s gradient completed twice in one backward");
  complete_[index] = true;
  --waiting_[bucket_of_[index]];
  std::vector<size_t> ready;
  while (next_ < waiting_.size() && waiting_[next_] == 0) ready.push_back(next_++);
  return ready;
}

std::vector<size_t> BucketSchedule::rest() {
  std::vector<size_t> left;
  while (next_ < waiting_.size()) left.push_back(next_++);
  return left;
}

}  // namespace ttt
