// A refcounted block of memory on one device. Tensors share a Storage through shared_ptr;
// the memory returns to its allocator when the last Tensor viewing it goes away.
// Meta storage owns no memory at all: data is null and only the byte count is recorded.
#pragma once
#include <cstddef>

#include "core/device.h"

namespace ttt {

class Storage {
 public:
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
};

}  // namespace ttt
