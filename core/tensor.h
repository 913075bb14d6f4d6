// Tensor: a handle to (storage, element offset, shape, dtype, device) plus an autograd slot.
//
// Memory model (one page to explain): storage is always contiguous row-major. A Tensor views a
// contiguous run of its storage starting at `offset` elements. Views that keep this property
// (reshape, slices along the outermost non-unit dim) share storage; every other layout change
// (permute, general slices, flip) makes a new tensor. There are no strides to reason about.
//
// Copies of a Tensor handle share everything (like shared_ptr); clone() copies the data.
// The autograd slot (requires_grad, grad, grad_fn) is plain data here; autograd/ gives it meaning.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "core/storage.h"

namespace ttt {

class Node;  // autograd/node.h: one recorded op on the tape
struct AutogradMeta;

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor (e.g. a gradient that was never written)

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const;
  DType dtype() const;
  Device device() const;
  std::string describe() const;  // "f32[2, 3] on cuda:0"; "undefined tensor" when empty

  // Raw element pointer (device memory for cuda, null for meta). Checks the dtype.
  template <class T>
  T* data() const;
  void* raw_data() const;

  const std::shared_ptr<Storage>& storage() const;
  int64_t storage_offset() const;

  // ---- the autograd slot (meaning in autograd/) ----
  bool requires_grad() const;
  // Marks a leaf as a variable whose .grad backward() should fill. Floating dtypes only.
  Tensor& set_requires_grad(bool on);
  Tensor grad() const;  // undefined until a backward() reached this leaf
  void set_grad(const Tensor& g);
  std::shared_ptr<Node> grad_fn() const;  // the op that produced this tensor, null for leaves
  bool is_leaf() const { return grad_fn() == nullptr; }
  // Used by op recording only. output_index: which output of the op this tensor is (ops such as
  // unstack produce several).
  void set_grad_fn(std::shared_ptr<Node> fn, int output_index = 0);
  std::shared_ptr<AutogradMeta> autograd_meta() const;  // created on first use

  // Points this tensor (every handle on it) at other's storage, offset, shape and dtype, keeping
  // its autograd flags. What modules use to move parameters between devices or swap in loaded
  // values without invalidating the handles their layers hold. No autograd.
  void set_data(const Tensor& other);

  // A new handle on the same data with no autograd history (requires_grad false).
  Tensor detach() const;
  // True when both handles are the same tensor object (not just equal data).
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }
  // True when this handle is the only one on its tensor object, no other tensor views its storage,
  // and it covers the whole storage: taking it over cannot alias anything or keep unused bytes.
  bool sole_owner() const;

  // ---- host conveniences (copy to the host when needed) ----
  template <class T>
  T item() const;  // the single element of a one-element tensor, converted to T
  template <class T>
  std::vector<T> to_vector() const;  // all elements, converted to T

  // Internal: builds a tensor viewing `storage` from `offset` with `shape`.
  static Tensor make(std::shared_ptr<Storage> storage, int64_t offset, Shape shape, DType dtype);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
  Impl& impl() const;
};

struct AutogradMeta {
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;
  int output_index = 0;  // which output of grad_fn this tensor is
};

// ---- factories ----
Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
Tensor full(const Shape& shape, double value, DType dtype = DType::f32, Device device = Device::cpu());
Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
// Values given row-major; converted to dtype. numel(shape) must equal values.size().
Tensor from_vector(const std::vector<double>& values, const Shape& shape, DType dtype = DType::f32,
                   Device device = Device::cpu());
Tensor scalar_tensor(double value, DType dtype = DType::f32, Device device = Device::cpu());
Tensor arange(int64_t n, DType dtype = DType::i64, Device device = Device::cpu());
// from_vector for constants a forward pass needs every step (positions, masks): built once per
// (values, shape, dtype, device) and shared, so a step does not copy them from the host again
// (a host-to-device copy from pageable memory may wait for the GPU to finish its queue). The
// result must not be written to. The cache keeps the 64 most recently used constants.
Tensor cached_constant(const std::vector<double>& values, const Shape& shape, DType dtype, Device device);
std::vector<Tensor> cached_constants();  // every constant in the cache now (what a CUDA graph keeps alive)

// ---- data movement (no autograd) ----
Tensor to_device(const Tensor& t, Device device);      // returns t itself when already there
Tensor to_dtype(const Tensor& t, DType dtype);         // returns t itself when already that dtype
Tensor clone_data(const Tensor& t);                    // a fresh copy, same device and dtype
void copy_into(const Tensor& dst, const Tensor& src);  // same shape; any devices; converts dtype

// A view of the same storage with another shape (numel must match). No autograd.
Tensor view_shape(const Tensor& t, const Shape& shape);

}  // namespace ttt
