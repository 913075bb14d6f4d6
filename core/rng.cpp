#include "core/rng.h"

#include "core/backend.h"
#include "core/error.h"

namespace ttt {

static Tensor random_tensor(const Shape& shape, Generator& gen, DType dtype, Device device, bool normal) {
  // bf16: the f32 numbers, rounded (the same numbers as an f32 fill, to bf16's precision)
  if (dtype == DType::bf16) return to_dtype(random_tensor(shape, gen, DType::f32, device, normal), DType::bf16);
  Tensor t = empty(shape, dtype, device);
  const uint64_t offset = gen.advance(static_cast<uint64_t>(t.numel()));
  if (t.numel() == 0 || device.is_meta()) return t;
  if (device.is_cpu()) {
    normal ? cpu::random_normal(t, gen.seed(), offset) : cpu::random_uniform(t, gen.seed(), offset);
  } else {
    TTT_CHECK(dtype == DType::f32, normal ? "randn" : "rand", "CUDA random fills take f32, got ", dtype_name(dtype));
    normal ? cuda::random_normal(t, gen.seed(), offset) : cuda::random_uniform(t, gen.seed(), offset);
  }
  return t;
}

Tensor randn(const Shape& shape, Generator& gen, DType dtype, Device device) {
  return random_tensor(shape, gen, dtype, device, true);
}
Tensor rand(const Shape& shape, Generator& gen, DType dtype, Device device) {
  return random_tensor(shape, gen, dtype, device, false);
}

}  // namespace ttt
