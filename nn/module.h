// Module: the unit of a model. A module owns parameters (trainable tensors), buffers (state that
// is not trained) and child modules, each registered under a name. Registration is the only way a
// parameter exists: named_parameters() walks what was registered, so nothing can be forgotten by
// a hand-written list (the failure docs/spec/DESIGN.md describes).
//
// Names are hierarchical: a parameter "weight" of a child "wq" of a child "ttt" of the root is
// "ttt.wq.weight". Each module class also has a kind ("Linear", "TTTMLP", ...) that policies can
// match. A registered name may not contain '.' and must be unique within its module.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/memory_ledger.h"
#include "core/profile.h"
#include "core/tensor.h"

namespace ttt::nn {

using NamedTensor = std::pair<std::string, Tensor>;

class Module {
 public:
  explicit Module(std::string kind);
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& kind() const { return kind_; }
  // The dotted path from the root ("" for the root itself), e.g. "layers.3.ttt".
  std::string path() const;

  // ---- registration ----
  // A parameter: a leaf tensor with requires_grad (true unless a policy later says otherwise).
  Tensor register_parameter(const std::string& name, Tensor value, bool requires_grad = true);
  // A buffer: state saved in the state dict when persistent (e.g. running statistics), never trained.
  Tensor register_buffer(const std::string& name, Tensor value, bool persistent = true);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> child) {
    adopt(name, child);
    return child;
  }

  // ---- traversal (registration order, depth first) ----
  std::vector<NamedTensor> named_parameters() const;
  std::vector<NamedTensor> named_buffers(bool persistent_only = false) const;
  std::vector<std::pair<std::string, const Module*>> named_modules() const;  // includes ("", this)
  std::vector<Tensor> parameters() const;
  std::vector<NamedTensor> local_parameters() const { return params_; }
  int64_t num_parameters(bool trainable_only = false) const;

  // ---- state ----
  void to(Device device);      // moves every parameter and buffer; handles stay valid
  void to_dtype(DType dtype);  // converts every floating parameter and buffer (e.g. f64 for gradchecks)
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Parameters and persistent buffers by full name.
  std::vector<NamedTensor> state_dict() const;
  // Copies values in by name. strict: every missing, unexpected, shape- and dtype-mismatched key
  // is reported in one error; non-strict: loads what matches and returns the report. A tensor of
  // another dtype than its parameter (an i64 where an f32 is expected) is a mismatch unless
  // allow_cast asks for the conversion.
  struct LoadReport {
    std::vector<std::string> missing, unexpected, mismatched, wrong_dtype;
    bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty() && wrong_dtype.empty(); }
    std::string str() const;
  };
  LoadReport load_state_dict(const std::vector<NamedTensor>& state, bool strict = true, bool allow_cast = false);

 protected:
  // Pushes "<kind> '<path>'" onto the error context while a forward runs, so an op's error
  // message says which module it happened in. Use: `Scope scope(*this);` first in forward().
  // With TTT_PROFILE set it also charges the GPU time of the forward to the module's kind, and
  // during a memory estimate the bytes the forward keeps (core/memory_ledger.h).
  class Scope {
   public:
    explicit Scope(const Module& m);

   private:
    ErrorContext context_;
    profile::Region region_;
    memory_ledger::Region ledger_;
  };

 private:
  void adopt(const std::string& name, std::shared_ptr<Module> child);
  void check_new_name(const std::string& name) const;
  void collect(const std::string& prefix, std::vector<NamedTensor>& params, std::vector<NamedTensor>* buffers,
               bool persistent_only) const;

  std::string kind_;
  std::string name_;  // name under the parent ("" for a root)
  const Module* parent_ = nullptr;
  bool training_ = true;
  std::vector<NamedTensor> params_;
  std::vector<NamedTensor> buffers_;
  std::vector<bool> buffer_persistent_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

}  // namespace ttt::nn
