// A seeded counter-based random number generator (Philox-4x32-10, Salmon et al. 2011).
// Number i of a stream is a pure function of (seed, offset + i), so the CPU and CUDA backends
// produce the same values, any slice of a stream can be regenerated, and saving a generator is
// saving two integers (what checkpoints need for an exact resume).
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace ttt {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0, uint64_t offset = 0) : seed_(seed), offset_(offset) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }
  // Reserves n counters and returns the first.
  uint64_t advance(uint64_t n) {
    uint64_t o = offset_;
    offset_ += n;
    return o;
  }

 private:
  uint64_t seed_, offset_;
};

// Standard normal / uniform [0, 1) samples; they consume numel counters of the generator.
Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::f32, Device device = Device::cpu());
Tensor rand(const Shape& shape, Generator& gen, DType dtype = DType::f32, Device device = Device::cpu());

}  // namespace ttt
