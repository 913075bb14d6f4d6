// ModuleList and ParameterList: ordered children named "0", "1", ... so that a stack of layers
// or a list of weight matrices gets the hierarchical names "layers.3.ttt" and "weights.0".
#pragma once
#include <memory>
#include <string>

#include "nn/module.h"

namespace ttt::nn {

class ModuleList : public Module {
 public:
  ModuleList() : Module("ModuleList") {}
  template <class M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> m) {
    items_.push_back(m);
    return register_module(std::to_string(items_.size() - 1), std::move(m));
  }
  size_t size() const { return items_.size(); }
  const std::shared_ptr<Module>& operator[](size_t i) const { return items_.at(i); }
  // The i-th module as its concrete type; throws if it is another type.
  template <class M>
  std::shared_ptr<M> at(size_t i) const {
    auto m = std::dynamic_pointer_cast<M>(items_.at(i));
    TTT_CHECK(m != nullptr, "ModuleList::at", "item ", i, " is a ", items_.at(i)->kind());
    return m;
  }

 private:
  std::vector<std::shared_ptr<Module>> items_;
};

class ParameterList : public Module {
 public:
  ParameterList() : Module("ParameterList") {}
  Tensor append(Tensor value, bool requires_grad = true) {
    items_.push_back(register_parameter(std::to_string(items_.size()), std::move(value), requires_grad));
    return items_.back();
  }
  size_t size() const { return items_.size(); }
  const Tensor& operator[](size_t i) const { return items_.at(i); }

 private:
  std::vector<Tensor> items_;
};

}  // namespace ttt::nn
