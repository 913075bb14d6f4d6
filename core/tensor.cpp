#include "core/tensor.h"

#include <cstring>
#include <list>
#include <mutex>

#include "core/backend.h"
#include "core/error.h"
#include "core/half.h"
#include "core/profile.h"

namespace ttt {

struct Tensor::Impl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape shape;
  DType dtype = DType::f32;
  std::shared_ptr<AutogradMeta> autograd;
};

Tensor::Impl& Tensor::impl() const {
  if (!impl_) fail("Tensor", "use of an undefined tensor (a gradient never computed, or a default-constructed Tensor)");
  return *impl_;
}

Tensor Tensor::make(std::shared_ptr<Storage> storage, int64_t offset, Shape shape, DType dtype) {
  Tensor t;
  t.impl_ = std::make_shared<Impl>();
  t.impl_->storage = std::move(storage);
  t.impl_->offset = offset;
  t.impl_->shape = std::move(shape);
  t.impl_->dtype = dtype;
  return t;
}

const Shape& Tensor::shape() const { return impl().shape; }
int64_t Tensor::size(int64_t d) const { return shape()[normalize_dim(d, dim(), "Tensor::size")]; }
int64_t Tensor::numel() const { return numel_of(shape()); }
DType Tensor::dtype() const { return impl().dtype; }
Device Tensor::device() const { return impl().storage->device(); }
const std::shared_ptr<Storage>& Tensor::storage() const { return impl().storage; }
bool Tensor::sole_owner() const {
  return impl_ && impl_.use_count() == 1 && impl_->storage && impl_->storage.use_count() == 1 && impl_->offset == 0 &&
         impl_->storage->bytes() == static_cast<size_t>(numel()) * dtype_size(impl_->dtype);
}
int64_t Tensor::storage_offset() const { return impl().offset; }

std::string Tensor::describe() const {
  if (!defined()) return "undefined tensor";
  return std::string(dtype_name(dtype())) + shape_str(shape()) + " on " + device().str();
}

void* Tensor::raw_data() const {
  auto* base = static_cast<char*>(impl().storage->data());
  if (!base) return nullptr;
  return base + impl().offset * static_cast<int64_t>(dtype_size(impl().dtype));
}

template <class T>
static DType dtype_of() {
  if constexpr (std::is_same_v<T, float>) return DType::f32;
  if constexpr (std::is_same_v<T, double>) return DType::f64;
  if constexpr (std::is_same_v<T, int32_t>) return DType::i32;
  if constexpr (std::is_same_v<T, int64_t>) return DType::i64;
  if constexpr (std::is_same_v<T, bf16>) return DType::bf16;
}

template <class T>
T* Tensor::data() const {
  TTT_CHECK(dtype() == dtype_of<T>(), "Tensor::data", "requested ", dtype_name(dtype_of<T>()), " elements from ", describe());
  return static_cast<T*>(raw_data());
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template int32_t* Tensor::data<int32_t>() const;
template int64_t* Tensor::data<int64_t>() const;
template bf16* Tensor::data<bf16>() const;

// ---- autograd slot ----
std::shared_ptr<AutogradMeta> Tensor::autograd_meta() const {
  if (!impl().autograd) impl_->autograd = std::make_shared<AutogradMeta>();
  return impl_->autograd;
}
bool Tensor::requires_grad() const { return defined() && impl_->autograd && impl_->autograd->requires_grad; }
Tensor& Tensor::set_requires_grad(bool on) {
  TTT_CHECK(!on || is_floating(dtype()), "set_requires_grad", "only floating tensors can require grad, got ", describe());
  TTT_CHECK(is_leaf() || on, "set_requires_grad", "cannot turn off requires_grad of a non-leaf tensor ", describe(),
            "; use detach() instead");
  autograd_meta()->requires_grad = on;
  return *this;
}
Tensor Tensor::grad() const { return impl_ && impl_->autograd ? impl_->autograd->grad : Tensor(); }
void Tensor::set_grad(const Tensor& g) { autograd_meta()->grad = g; }
std::shared_ptr<Node> Tensor::grad_fn() const { return impl_ && impl_->autograd ? impl_->autograd->grad_fn : nullptr; }
void Tensor::set_grad_fn(std::shared_ptr<Node> fn, int output_index) {
  auto meta = autograd_meta();
  meta->grad_fn = std::move(fn);
  meta->output_index = output_index;
  meta->requires_grad = meta->grad_fn != nullptr;
}
void Tensor::set_data(const Tensor& other) {
  TTT_CHECK(other.defined(), "set_data", "new data is an undefined tensor");
  TTT_CHECK(is_leaf(), "set_data", "only leaf tensors (parameters, buffers) can take new data, not ", describe());
  impl().storage = other.impl().storage;
  impl_->offset = other.impl_->offset;
  impl_->shape = other.impl_->shape;
  impl_->dtype = other.impl_->dtype;
}

Tensor Tensor::detach() const { return make(impl().storage, impl().offset, impl().shape, impl().dtype); }

// ---- host conveniences ----
template <class T>
std::vector<T> Tensor::to_vector() const {
  TTT_CHECK(!device().is_meta(), "to_vector", "a meta tensor has no values: ", describe());
  Tensor host = to_device(to_dtype(*this, dtype_of<T>()), Device::cpu());
  const T* p = host.data<T>();
  return std::vector<T>(p, p + host.numel());
}
template <class T>
T Tensor::item() const {
  TTT_CHECK(numel() == 1, "item", "expected a one-element tensor, got ", describe());
  return to_vector<T>()[0];
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template float Tensor::item<float>() const;
template double Tensor::item<double>() const;
template int32_t Tensor::item<int32_t>() const;
template int64_t Tensor::item<int64_t>() const;

// ---- factories ----
static void check_backend(Device device, const char* op) {
  if (device.is_cuda())
    TTT_CHECK(cuda_available(), op, "device ", device.str(),
              " requested but no CUDA GPU is available (or this build has no CUDA)");
}

Tensor empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t e : shape) TTT_CHECK(e >= 0, "empty", "negative extent in shape ", shape_str(shape));
  check_backend(device, "empty");
  size_t bytes = 0;
  TTT_CHECK(!__builtin_mul_overflow(static_cast<size_t>(numel_of(shape)), dtype_size(dtype), &bytes), "empty", "the shape ",
            shape_str(shape), " of ", dtype_name(dtype), " needs more than 2^64 bytes");
  auto storage = std::make_shared<Storage>(bytes, device);
  return Tensor::make(std::move(storage), 0, shape, dtype);
}

static void fill_on(const Tensor& t, double value) {
  if (t.numel() == 0 || t.device().is_meta()) return;
  if (t.device().is_cpu())
    cpu::fill(t, value);
  else {
    profile::KernelTimer timer("fill", t.device());
    cuda::fill(t, value);
  }
}

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  fill_on(t, value);
  return t;
}
Tensor zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor scalar_tensor(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

Tensor from_vector(const std::vector<double>& values, const Shape& shape, DType dtype, Device device) {
  TTT_CHECK(static_cast<int64_t>(values.size()) == numel_of(shape), "from_vector", values.size(), " values given for shape ",
            shape_str(shape), " (", numel_of(shape), " elements)");
  Tensor host = empty(shape, DType::f64, Device::cpu());
  if (!values.empty()) std::memcpy(host.raw_data(), values.data(), values.size() * sizeof(double));
  return to_device(to_dtype(host, dtype), device);
}

Tensor arange(int64_t n, DType dtype, Device device) {
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(i);
  return from_vector(v, {n}, dtype, device);
}

namespace {
struct ConstantKey {
  std::vector<double> values;
  Shape shape;
  DType dtype;
  Device device;
  bool operator==(const ConstantKey& o) const {
    return dtype == o.dtype && device == o.device && shape == o.shape && values == o.values;
  }
};
struct ConstantCache {
  std::mutex mutex;
  std::list<std::pair<ConstantKey, Tensor>> entries;  // most recent first
};
ConstantCache& constant_cache() {
  static auto* cache = new ConstantCache();  // never destroyed
  return *cache;
}
}  // namespace

std::vector<Tensor> cached_constants() {
  ConstantCache& c = constant_cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  std::vector<Tensor> out;
  for (const auto& entry : c.entries) out.push_back(entry.second);
  return out;
}

Tensor cached_constant(const std::vector<double>& values, const Shape& shape, DType dtype, Device device) {
  ConstantCache& c = constant_cache();
  auto* cache = &c.entries;
  ConstantKey key{values, shape, dtype, device};
  std::lock_guard<std::mutex> lock(c.mutex);
  for (auto it = cache->begin(); it != cache->end(); ++it)
    if (it->first == key) {
      cache->splice(cache->begin(), *cache, it);
      return cache->front().second;
    }
  Tensor t = from_vector(values, shape, dtype, device);
  cache->emplace_front(std::move(key), t);
  if (cache->size() > 64) cache->pop_back();
  return t;
}

// ---- data movement ----
void copy_into(const Tensor& dst, const Tensor& src) {
  TTT_CHECK(dst.shape() == src.shape(), "copy_into", "shape mismatch: dst ", dst.describe(), ", src ", src.describe());
  TTT_CHECK(!src.device().is_meta() || dst.device().is_meta(), "copy", "a meta tensor has no values to copy into ",
            dst.describe(), " (build the model on a real device, or load a state dict after moving it)");
  if (dst.device().is_meta() || src.numel() == 0) return;
  Tensor s = src;
  if (s.dtype() != dst.dtype()) s = to_dtype(s, dst.dtype());  // convert on the source device
  size_t bytes = s.numel() * dtype_size(s.dtype());
  if (s.device().is_cpu() && dst.device().is_cpu())
    std::memcpy(dst.raw_data(), s.raw_data(), bytes);
  else {
    profile::KernelTimer timer(s.device().is_cuda() && dst.device().is_cuda() ? "copy" : "copy to/from host",
                               s.device().is_cuda() ? s.device() : dst.device());
    cuda::copy_bytes(dst.raw_data(), dst.device(), s.raw_data(), s.device(), bytes);
  }
}

Tensor to_device(const Tensor& t, Device device) {
  if (t.device() == device) return t;
  Tensor out = empty(t.shape(), t.dtype(), device);
  copy_into(out, t);
  return out;
}

Tensor to_dtype(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype) return t;
  Tensor out = empty(t.shape(), dtype, t.device());
  if (t.numel() == 0 || t.device().is_meta()) return out;
  if (t.device().is_cpu())
    cpu::cast(t, out);
  else {
    profile::KernelTimer timer("cast", t.device());
    cuda::cast(t, out);
  }
  return out;
}

Tensor clone_data(const Tensor& t) {
  Tensor out = empty(t.shape(), t.dtype(), t.device());
  copy_into(out, t);
  return out;
}

Tensor view_shape(const Tensor& t, const Shape& shape) {
  TTT_CHECK(numel_of(shape) == t.numel(), "view", "cannot view ", t.describe(), " as ", shape_str(shape), " (", numel_of(shape),
            " elements)");
  return Tensor::make(t.storage(), t.storage_offset(), shape, t.dtype());
}

}  // namespace ttt
