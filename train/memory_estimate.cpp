#include "train/memory_estimate.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "autograd/ops.h"
#include "core/allocator.h"
#include "core/compute.h"
#include "core/error.h"
#include "nn/optim/adamw.h"
#include "nn/policy.h"
#include "nn/precision.h"

namespace ttt {

namespace {

std::string gib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

// GiB from 1 GiB up, MiB below (the breakdown of a small model)
std::string size(int64_t bytes) {
  const double b = static_cast<double>(bytes < 0 ? -bytes : bytes);
  char buf[32];
  if (b >= 1024.0 * 1024.0 * 1024.0)
    std::snprintf(buf, sizeof buf, "%s%.2f GiB", bytes < 0 ? "-" : "", b / (1024.0 * 1024.0 * 1024.0));
  else
    std::snprintf(buf, sizeof buf, "%s%.1f MiB", bytes < 0 ? "-" : "", b / (1024.0 * 1024.0));
  return buf;
}

}  // namespace

std::string MemoryEstimate::str() const {
  std::string s = "memory estimate: " + gib(total()) + " = parameters " + gib(parameters) + " + gradients " + gib(gradients) +
                  " + AdamW state " + gib(optimizer) + " + activations " +
                  (step_measured ? gib(activations) + " (one micro-batch's forward and backward, measured on the meta device)"
                                 : std::string("(not measured)"));
  s += "\n";
  if (!step_measured || kept_by_forward.empty()) return s;
  // the largest keepers, down to 1% of what the forward keeps; the others summed as one line
  std::vector<memory_ledger::Entry> sorted = kept_by_forward;
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.bytes > b.bytes; });
  s += "  the forward keeps " + size(static_cast<int64_t>(forward_kept)) + " for backward, by module:\n";
  int64_t rest = 0;
  int rest_places = 0;
  for (const memory_ledger::Entry& e : sorted) {
    if (e.bytes > 0 && static_cast<uint64_t>(e.bytes) * 100 >= forward_kept) {
      char line[32];
      std::snprintf(line, sizeof line, "    %10s  ", size(e.bytes).c_str());
      s += line + e.where;
      if (e.calls > 0) s += " (" + std::to_string(e.calls) + (e.calls == 1 ? " forward)" : " forwards)");
      s += "\n";
    } else {
      rest += e.bytes;
      ++rest_places;
    }
  }
  if (rest_places > 0) {
    char line[32];
    std::snprintf(line, sizeof line, "    %10s  ", size(rest).c_str());
    s += line + std::string("the other ") + std::to_string(rest_places) + " places (residual streams, losses, small modules)\n";
  }
  return s;
}

MemoryEstimate estimate_training_memory(const TrainConfig& c, int world) {
  MemoryEstimate e;
  // a run on a GPU: the meta device follows the CUDA paths (flash attention keeps no [S, S])
  const std::string& d = c.run.device;
  const bool on_gpu = !c.run.devices.empty() || d.rfind("cuda", 0) == 0 || (d == "auto" && cuda_available());
  compute::MetaAsCuda follow_cuda(on_gpu);
  const uint64_t base = meta_memory_stats().current_bytes;
  nn::ActivationScope activations(c.run.activations == Activations::bf16 ? DType::bf16 : DType::f32);
  Generator gen(c.run.seed);
  HybridLM model(c.model, gen, Device::meta());
  nn::apply_policy(model, c.trainable);
  if (c.frozen_dtype == FrozenDType::bf16) nn::store_frozen_in_bf16(model);
  e.num_parameters = model.num_parameters();
  e.num_trainable = model.num_parameters(true);
  e.parameters = meta_memory_stats().current_bytes - base;
  for (const Tensor& p : model.parameters())
    if (p.requires_grad()) e.gradients += static_cast<uint64_t>(p.numel()) * dtype_size(p.dtype());  // < the parameters' bytes
  TTT_CHECK(e.parameters < (uint64_t{1} << 60), "memory", "the model's parameters alone need ", gib(e.parameters),
            ": far more than any device has (model.width, model.num_layers, model.ffn_hidden and the vocab sizes drive it)");
  if (e.num_trainable == 0) return e;  // refused later with its own message
  nn::AdamW adamw(model, c.optim, c.groups, nn::OptimizerShard{0, c.run.shard_optimizer ? world : 1});
  const uint64_t resident = meta_memory_stats().current_bytes;
  e.optimizer = resident - base - e.parameters;
  reset_meta_peak();
  try {
    const Tensor tokens = empty({c.run.batch_size, c.run.seq_len, c.model.num_streams()}, DType::i64, Device::meta());
    Tensor loss;
    {
      memory_ledger::Recording ledger;  // the forward only: backward's recomputation is not kept
      const uint64_t before = meta_memory_stats().current_bytes;
      loss = model.loss(tokens, tokens).total;
      e.forward_kept = meta_memory_stats().current_bytes - before;
      e.kept_by_forward = ledger.entries();
      int64_t in_modules = 0;
      for (const memory_ledger::Entry& entry : e.kept_by_forward) in_modules += entry.bytes;
      const int64_t outside = static_cast<int64_t>(e.forward_kept) - in_modules;  // a loss computed by free functions
      if (outside != 0) e.kept_by_forward.push_back({"outside any module's forward", outside, 0});
    }
    backward(loss);
    const uint64_t peak = meta_memory_stats().peak_bytes;
    e.activations = peak > resident + e.gradients ? peak - resident - e.gradients : 0;
    e.step_measured = true;
  } catch (const Error&) {
    e.step_measured = false;  // an op without a meta path: the estimate keeps the resident part
  }
  return e;
}

uint64_t device_memory_bytes(Device device) {
  if (device.is_cuda()) return cuda::device_total_bytes(device.index);
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
}

std::string check_memory_fits(const MemoryEstimate& e, uint64_t available, Device device, bool warn_only) {
  if (available == 0 || e.total() <= available) return "";
  const std::string what = "this run needs about " + gib(e.total()) + " but " + device.str() + " has " + gib(available) +
                           ":\n  " + e.str() +
                           "  Parameters, gradients and AdamW state grow with model.width^2 x model.num_layers (and the vocab "
                           "sizes); activations with run.batch_size x run.seq_len x model.width x model.num_layers. Lower them, "
                           "use run.num_microbatches, model.checkpoint_ttt (or model.checkpoint_ttt_layers for some branches), "
                           "model.checkpoint_layers, model.attention_recompute or "
                           "ttt.scan_checkpoint_group (the breakdown above says which part keeps the most), or freeze parameters "
                           "(trainable.rules). Nothing was created. (run.memory_check=warn trains anyway; the allocator's peak "
                           "usually lands within a few percent above the estimate, up to about 15% for bf16 activations.)";
  if (!warn_only) fail("memory", what);
  return "warning: " + what;
}

}  // namespace ttt
