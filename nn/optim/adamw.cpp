#include "nn/optim/adamw.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "core/backend.h"
#include "core/error.h"
#include "core/profile.h"

namespace ttt::nn {

std::string ParamGroupRule::str() const {
  std::ostringstream os;
  os << select.str();
  if (weight_decay) os << " weight_decay=" << *weight_decay;
  if (lr_scale) os << " lr_scale=" << *lr_scale;
  return os.str();
}

AdamW::AdamW(const Module& model, AdamWOptions options, std::vector<ParamGroupRule> groups, OptimizerShard shard)
    : options_(options), groups_(std::move(groups)), shard_(shard) {
  TTT_CHECK(shard.world >= 1 && shard.rank >= 0 && shard.rank < shard.world, "AdamW", "rank ", shard.rank, " of ", shard.world,
            " is not a shard");
  std::vector<int64_t> matched(groups_.size(), 0);
  for (const ParamInfo& p : param_infos(model)) {
    if (!p.tensor.requires_grad()) continue;  // frozen: no state, never updated
    TTT_CHECK(p.tensor.dtype() == DType::f32, "AdamW", "parameter '", p.name, "' is ", p.tensor.describe(),
              "; the optimizer keeps f32 parameters");
    Managed m{p.name, p.tensor, Tensor(), Tensor(), options_.weight_decay, 1.0, -1};
    for (size_t g = 0; g < groups_.size(); ++g) {
      if (!groups_[g].select.matches(p)) continue;
      ++matched[g];
      if (groups_[g].weight_decay) m.weight_decay = *groups_[g].weight_decay;
      if (groups_[g].lr_scale) m.lr_scale = *groups_[g].lr_scale;
      m.group = static_cast<int>(g);
    }
    params_.push_back(std::move(m));
  }
  for (size_t g = 0; g < groups_.size(); ++g)
    TTT_CHECK(matched[g] > 0, "AdamW", "parameter group rule ", g, " (", groups_[g].str(),
              ") matches no trainable parameter; a rule that matches nothing usually means it was written for other names");
  // owners: largest first to the least loaded rank (stable: equal sizes keep the model's order)
  std::vector<size_t> by_size(params_.size());
  for (size_t i = 0; i < by_size.size(); ++i) by_size[i] = i;
  std::stable_sort(by_size.begin(), by_size.end(),
                   [&](size_t a, size_t b) { return params_[a].param.numel() > params_[b].param.numel(); });
  std::vector<int64_t> load(static_cast<size_t>(shard_.world), 0);
  for (size_t i : by_size) {
    const auto least = std::min_element(load.begin(), load.end());
    params_[i].owner = static_cast<int>(least - load.begin());
    *least += params_[i].param.numel();
  }
  for (Managed& m : params_)
    if (mine(m)) {
      m.exp_avg = zeros(m.param.shape(), DType::f32, m.param.device());
      m.exp_avg_sq = zeros(m.param.shape(), DType::f32, m.param.device());
    }
}

std::vector<AdamW::Owned> AdamW::owners() const {
  std::vector<Owned> out;
  for (const Managed& m : params_) out.push_back({m.name, m.param, m.owner});
  return out;
}

void AdamW::step(double lr, const Tensor& grad_scale) {
  ++step_;
  AdamWHyper h;
  h.beta1 = static_cast<float>(options_.beta1);
  h.beta2 = static_cast<float>(options_.beta2);
  h.eps = static_cast<float>(options_.eps);
  h.bias_correction1 = static_cast<float>(1.0 - std::pow(options_.beta1, static_cast<double>(step_)));
  h.bias_correction2 = static_cast<float>(1.0 - std::pow(options_.beta2, static_cast<double>(step_)));
  // One list per device kind (a model lives on one device in practice).
  std::vector<AdamWTensor> cpu_list, cuda_list;
  Device cuda_device = Device::cuda(0);
  for (Managed& m : params_) {
    Tensor g = m.param.grad();
    if (!g.defined() || m.param.device().is_meta() || !mine(m)) continue;  // another rank updates it (ZeRO-1)
    TTT_CHECK(g.shape() == m.param.shape() && g.device() == m.param.device() && g.dtype() == DType::f32, "AdamW", "gradient ",
              g.describe(), " does not fit parameter '", m.name, "' ", m.param.describe());
    AdamWTensor t{m.param.data<float>(),
                  g.data<float>(),
                  m.exp_avg.data<float>(),
                  m.exp_avg_sq.data<float>(),
                  m.param.numel(),
                  static_cast<float>(lr * m.lr_scale),
                  static_cast<float>(m.weight_decay)};
    if (m.param.device().is_cuda()) cuda_device = m.param.device();
    (m.param.device().is_cuda() ? cuda_list : cpu_list).push_back(t);
  }
  if (grad_scale.defined())
    TTT_CHECK(grad_scale.numel() == 1 && grad_scale.dtype() == DType::f32, "AdamW::step",
              "grad_scale must be a one-element f32 tensor, got ", grad_scale.describe());
  if (!cpu_list.empty()) {
    const float* s = nullptr;
    Tensor host_scale;
    if (grad_scale.defined()) {
      host_scale = to_device(grad_scale, Device::cpu());
      s = host_scale.data<float>();
    }
    cpu::adamw_step(cpu_list, h, s);
  }
  if (!cuda_list.empty()) {
    const float* s = nullptr;
    Tensor dev_scale;
    if (grad_scale.defined()) {
      dev_scale = to_device(grad_scale, cuda_device);
      s = dev_scale.data<float>();
    }
    profile::KernelTimer timer("adamw_step", cuda_device);
    cuda::adamw_step(cuda_list, h, s);
  }
}

void AdamW::zero_grad() {
  for (Managed& m : params_) m.param.set_grad(Tensor());
}

std::vector<NamedTensor> AdamW::state_dict() const {
  std::vector<NamedTensor> out{{"step", full({}, static_cast<double>(step_), DType::i64)}};
  for (const Managed& m : params_) {
    if (!mine(m)) continue;
    out.emplace_back("exp_avg." + m.name, m.exp_avg);
    out.emplace_back("exp_avg_sq." + m.name, m.exp_avg_sq);
  }
  return out;
}

void AdamW::load_state_dict(const std::vector<NamedTensor>& state) {
  std::map<std::string, Tensor> given(state.begin(), state.end());
  std::vector<std::string> problems;
  std::vector<std::pair<Tensor, Tensor>> copies;  // (destination, source), applied only if all fits
  auto step_it = given.find("step");
  if (step_it == given.end() || step_it->second.numel() != 1)
    problems.push_back("missing step");
  else if (step_it->second.dtype() != DType::i64 || step_it->second.item<int64_t>() < 0)
    problems.push_back("step must be one non-negative i64");
  for (const Managed& m : params_)
    for (const auto& [key, dst] : {std::pair{"exp_avg." + m.name, m.exp_avg}, std::pair{"exp_avg_sq." + m.name, m.exp_avg_sq}}) {
      auto it = given.find(key);
      if (it == given.end()) {
        problems.push_back("missing " + key);
        continue;
      }
      if (!mine(m)) {  // another rank's part of a full state
        given.erase(it);
        continue;
      }
      if (it->second.shape() != dst.shape())
        problems.push_back(key + " has shape " + shape_str(it->second.shape()) + ", expected " + shape_str(dst.shape()));
      else if (it->second.dtype() != dst.dtype())
        problems.push_back(key + " has dtype " + dtype_name(it->second.dtype()) + ", expected " + dtype_name(dst.dtype()));
      else
        copies.emplace_back(dst, it->second);
      given.erase(it);
    }
  for (auto& [key, t] : given)
    if (key != "step") problems.push_back("unexpected " + key + " (a parameter the optimizer does not train)");
  if (!problems.empty()) {
    std::string msg;
    for (const auto& p : problems) msg += "\n  " + p;
    fail("AdamW::load_state_dict", "the optimizer state does not fit the trainable parameters:" + msg);
  }
  step_ = step_it->second.item<int64_t>();
  for (auto& [dst, src] : copies) copy_into(dst, src);
}

std::string AdamW::groups_report() const {
  std::ostringstream os;
  os << "AdamW: " << params_.size() << " trainable tensors; default weight_decay " << options_.weight_decay << "\n";
  if (shard_.world > 1) {
    int64_t owned = 0, elems = 0, all = 0;
    for (const Managed& m : params_) {
      all += m.param.numel();
      if (mine(m)) ++owned, elems += m.param.numel();
    }
    os << "  sharded (ZeRO-1): rank " << shard_.rank << " of " << shard_.world << " keeps the state of " << owned << " tensors, "
       << elems << " of " << all << " elements\n";
  }
  for (size_t g = 0; g < groups_.size(); ++g) {
    int64_t n = 0, elems = 0;
    for (const Managed& m : params_)
      if (m.group == static_cast<int>(g)) ++n, elems += m.param.numel();
    os << "  group " << g << " (" << groups_[g].str() << "): decides " << n << " tensors, " << elems << " elements\n";
  }
  return os.str();
}

}  // namespace ttt::nn
