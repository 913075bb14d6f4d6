#include "train/grad_reducer.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "core/compute.h"
#include "core/error.h"

namespace ttt {

GradientReducer::GradientReducer(Collectives& collectives, const std::vector<Tensor>& params, Options options)
    : collectives_(collectives), options_(options) {
  for (const Tensor& p : params)
    if (p.requires_grad()) {
      index_of_[p.autograd_meta().get()] = trainable_.size();
      trainable_.push_back(p);
    }
}

LeafGradReady GradientReducer::hook() {
  if (!options_.overlap) return {};
  schedule_.start();
  hooked_ = true;
  return [this](AutogradMeta& leaf) { gradient_complete(leaf); };
}

void GradientReducer::gradient_complete(AutogradMeta& leaf) {
  auto it = index_of_.find(&leaf);
  if (it == index_of_.end()) return;  // not a parameter (an input that requires grad)
  if (!planned_) {                    // the first step: only learn the order
    completion_order_.push_back(it->second);
    return;
  }
  for (size_t bucket : schedule_.complete(it->second)) launch(bucket);
}

void GradientReducer::launch(size_t bucket) {
  std::vector<Tensor> sums;
  for (size_t index : schedule_.plan().buckets[bucket]) {
    Tensor& param = trainable_[index];
    // a gradient no path reached this step is summed as zeros: every rank must send the same set
    if (!param.grad().defined()) param.autograd_meta()->grad = zeros(param.shape(), param.dtype(), param.device());
    sums.push_back(options_.bf16 && param.grad().dtype() != DType::bf16 ? to_dtype(param.grad(), DType::bf16) : param.grad());
  }
  collectives_.all_reduce_sum_async(sums);
  in_flight_.push_back(std::move(sums));
  in_flight_bucket_.push_back(bucket);
}

void GradientReducer::finish() {
  if (!planned_) {
    // buckets in the order the first step's backward completed the gradients (with no order,
    // overlap off: one bucket of all), the same on every step from now on
    std::vector<int64_t> bytes;
    for (const Tensor& p : trainable_) bytes.push_back(p.numel() * static_cast<int64_t>(dtype_size(p.dtype())));
    schedule_ = BucketSchedule(plan_buckets(completion_order_, bytes, options_.bucket_bytes), trainable_.size());
    planned_ = true;
    hooked_ = false;  // that backward only recorded the order: nothing was launched
  }
  if (!hooked_) schedule_.start();  // every bucket now
  hooked_ = false;
  for (size_t bucket : schedule_.rest()) launch(bucket);
  times_ = collectives_.join();
  for (size_t b = 0; b < in_flight_.size(); ++b) {  // bf16 sums back into the gradients
    const auto& indices = schedule_.plan().buckets[in_flight_bucket_[b]];
    for (size_t k = 0; k < indices.size(); ++k) {
      Tensor& grad = trainable_[indices[k]].autograd_meta()->grad;
      if (in_flight_[b][k].storage() != grad.storage()) copy_into(grad, in_flight_[b][k]);
    }
  }
  in_flight_.clear();
  in_flight_bucket_.clear();
}

std::string GradientReducer::last_overlap_str() const {
  if (times_.launches == 0) return "";
  char line[200];
  const double hidden = times_.reduce_ms > 0 ? 1.0 - std::min(times_.exposed_ms, times_.reduce_ms) / times_.reduce_ms : 1.0;
  std::snprintf(line, sizeof line, "all-reduce %.2f ms in %d launches, %.0f%% hidden behind backward (%.2f ms exposed)",
                times_.reduce_ms, times_.launches, 100.0 * hidden, times_.exposed_ms);
  return line;
}

}  // namespace ttt
