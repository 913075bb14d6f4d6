#include "nn/module.h"

#include <algorithm>
#include <map>

#include "core/error.h"

namespace ttt::nn {

Module::Module(std::string kind) : kind_(std::move(kind)) {}

std::string Module::path() const {
  if (!parent_) return "";
  std::string up = parent_->path();
  return up.empty() ? name_ : up + "." + name_;
}

void Module::check_new_name(const std::string& name) const {
  const std::string where = kind_ + (path().empty() ? "" : " '" + path() + "'");
  TTT_CHECK(!name.empty(), "register", "empty name in ", where);
  TTT_CHECK(name.find('.') == std::string::npos, "register", "name '", name, "' in ", where,
            " contains '.', which separates levels of the hierarchy");
  auto taken = [&](const auto& list) {
    return std::any_of(list.begin(), list.end(), [&](const auto& e) { return e.first == name; });
  };
  TTT_CHECK(!taken(params_) && !taken(buffers_) && !taken(children_), "register", "name '", name, "' is already registered in ",
            where);
}

Tensor Module::register_parameter(const std::string& name, Tensor value, bool requires_grad) {
  check_new_name(name);
  TTT_CHECK(value.defined() && is_floating(value.dtype()), "register_parameter", "parameter '", name,
            "' must be a floating tensor, got ", value.describe());
  value = value.detach();  // a parameter is a leaf
  value.set_requires_grad(requires_grad);
  params_.emplace_back(name, value);
  return value;
}

Tensor Module::register_buffer(const std::string& name, Tensor value, bool persistent) {
  check_new_name(name);
  buffers_.emplace_back(name, value.detach());
  buffer_persistent_.push_back(persistent);
  return buffers_.back().second;
}

void Module::adopt(const std::string& name, std::shared_ptr<Module> child) {
  check_new_name(name);
  TTT_CHECK(child != nullptr, "register_module", "module '", name, "' is null");
  TTT_CHECK(child->parent_ == nullptr, "register_module", "module '", name, "' (", child->kind(), ") already belongs to '",
            child->path(), "'");
  child->parent_ = this;
  child->name_ = name;
  children_.emplace_back(name, std::move(child));
}

void Module::collect(const std::string& prefix, std::vector<NamedTensor>& params, std::vector<NamedTensor>* buffers,
                     bool persistent_only) const {
  for (const auto& [n, t] : params_) params.emplace_back(prefix + n, t);
  if (buffers)
    for (size_t i = 0; i < buffers_.size(); ++i)
      if (!persistent_only || buffer_persistent_[i]) buffers->emplace_back(prefix + buffers_[i].first, buffers_[i].second);
  for (const auto& [n, m] : children_) m->collect(prefix + n + ".", params, buffers, persistent_only);
}

std::vector<NamedTensor> Module::named_parameters() const {
  std::vector<NamedTensor> out;
  collect("", out, nullptr, false);
  return out;
}

std::vector<NamedTensor> Module::named_buffers(bool persistent_only) const {
  std::vector<NamedTensor> params, out;
  collect("", params, &out, persistent_only);
  return out;
}

std::vector<std::pair<std::string, const Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, const Module*>> out{{"", this}};
  for (const auto& [n, m] : children_)
    for (auto& [sub, mod] : m->named_modules()) out.emplace_back(sub.empty() ? n : n + "." + sub, mod);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

int64_t Module::num_parameters(bool trainable_only) const {
  int64_t n = 0;
  for (auto& [name, t] : named_parameters())
    if ((!trainable_only || t.requires_grad()) && __builtin_add_overflow(n, t.numel(), &n))
      fail("num_parameters", "the model has more than 2^63 parameters (at '" + name + "')");
  return n;
}

void Module::to(Device device) {
  std::vector<NamedTensor> params, buffers;
  collect("", params, &buffers, false);
  for (auto* list : {&params, &buffers})
    for (auto& [n, t] : *list) {
      Tensor moved = to_device(t, device);
      t.set_data(moved);
      if (t.grad().defined()) t.set_grad(to_device(t.grad(), device));
    }
}

void Module::to_dtype(DType dtype) {
  std::vector<NamedTensor> params, buffers;
  collect("", params, &buffers, false);
  for (auto* list : {&params, &buffers})
    for (auto& [n, t] : *list)
      if (is_floating(t.dtype())) t.set_data(ttt::to_dtype(t, dtype));
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, m] : children_) m->train(on);
}

std::vector<NamedTensor> Module::state_dict() const {
  std::vector<NamedTensor> params, buffers;
  collect("", params, &buffers, true);
  params.insert(params.end(), buffers.begin(), buffers.end());
  return params;
}

std::string Module::LoadReport::str() const {
  std::string s;
  auto list = [&](const char* what, const std::vector<std::string>& v) {
    if (v.empty()) return;
    s += std::string(s.empty() ? "" : "; ") + what + " (" + std::to_string(v.size()) + "): ";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  };
  list("missing keys", missing);
  list("unexpected keys", unexpected);
  list("shape mismatches", mismatched);
  list("dtype mismatches", wrong_dtype);
  return s.empty() ? "all keys matched" : s;
}

Module::LoadReport Module::load_state_dict(const std::vector<NamedTensor>& state, bool strict, bool allow_cast) {
  std::map<std::string, Tensor> given(state.begin(), state.end());
  LoadReport report;
  std::vector<std::pair<Tensor, Tensor>> to_copy;
  for (auto& [name, t] : state_dict()) {
    auto it = given.find(name);
    if (it == given.end()) {
      report.missing.push_back(name);
      continue;
    }
    if (it->second.shape() != t.shape())
      report.mismatched.push_back(name + " (expected " + shape_str(t.shape()) + ", got " + shape_str(it->second.shape()) + ")");
    else if (it->second.dtype() != t.dtype() && !allow_cast)
      report.wrong_dtype.push_back(name + " (expected " + dtype_name(t.dtype()) + ", got " + dtype_name(it->second.dtype()) +
                                   ")");
    else
      to_copy.emplace_back(t, it->second);
    given.erase(it);
  }
  for (auto& [name, t] : given) report.unexpected.push_back(name);
  if (strict && !report.ok()) fail("load_state_dict", "the state does not fit the model: " + report.str());
  for (auto& [dst, src] : to_copy) copy_into(dst, src);  // nothing is written unless all fits (strict)
  return report;
}

Module::Scope::Scope(const Module& m)
    : context_(m.kind() + (m.path().empty() ? "" : " '" + m.path() + "'")), region_(m.kind()), ledger_(&m, m.kind()) {}

}  // namespace ttt::nn
