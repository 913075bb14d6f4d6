// Conversions between float and the 16-bit formats (IEEE binary16 "f16" and bfloat16 "bf16", the
// element type of DType::bf16 tensors and a file format), rounding to nearest even (a double is
// rounded to float first). Every f16/bf16 value is exact in float, so
// 16 bit -> float -> 16 bit reproduces the original bits (NaN payloads aside).
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define TTT_HALF_HD __host__ __device__ __forceinline__
#else
#define TTT_HALF_HD inline
#endif

namespace ttt {

// The bf16 conversions run on the host and in CUDA kernels (ttt::bf16 below).
TTT_HALF_HD uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}
TTT_HALF_HD float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

TTT_HALF_HD float bf16_to_float(uint16_t h) { return bits_float(static_cast<uint32_t>(h) << 16); }

TTT_HALF_HD uint16_t float_to_bf16(float f) {
  uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);                                                      // round to nearest, ties to even
  return static_cast<uint16_t>(u >> 16);
}

// The element type of DType::bf16 tensors: 16 bits, converted explicitly to and from float (no
// arithmetic of its own, so a kernel cannot compute in bf16 by accident; it computes in f32 and
// rounds once when it stores). Usable in CUDA code, with the same rounding (__float2bfloat16_rn's).
struct bf16 {
  uint16_t bits = 0;
  bf16() = default;
  template <class T>
  explicit TTT_HALF_HD bf16(T v) : bits(float_to_bf16(static_cast<float>(v))) {}
  template <class T>
  explicit TTT_HALF_HD operator T() const {
    return static_cast<T>(to_float());
  }
  TTT_HALF_HD float to_float() const { return bf16_to_float(bits); }
};
static_assert(sizeof(bf16) == 2, "bf16 must be two bytes");

// f32 rounded to the nearest value with TF32's 10-bit or bf16's 7-bit mantissa, ties to even;
// NaN and infinity pass through. For emulating reduced-precision matrix products on the CPU.
inline float round_to_tf32(float f) {
  uint32_t u = float_bits(f);
  if ((u & 0x7f800000u) == 0x7f800000u) return f;  // inf / NaN
  u += 0xfffu + ((u >> 13) & 1u);                  // drop 13 mantissa bits, ties to even
  return bits_float(u & ~0x1fffu);
}
inline float round_to_bf16(float f) { return bf16_to_float(float_to_bf16(f)); }

inline float f16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (exp == 0x1f) return bits_float(sign | 0x7f800000u | (man << 13));  // inf / NaN
  if (exp != 0) return bits_float(sign | ((exp + 112) << 23) | (man << 13));
  if (man == 0) return bits_float(sign);  // signed zero
  // subnormal: value = man * 2^-24
  float v = static_cast<float>(man) * (1.0f / 16777216.0f);
  return sign ? -v : v;
}

inline uint16_t float_to_f16(float f) {
  const uint32_t u = float_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (a >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: infinity
  if (a < 0x38800000u) {                        // below the smallest normal 2^-14: subnormal or zero
    // scale so that the result's integer part is the 10-bit mantissa, rounding half to even
    const float v = bits_float(a) * 16777216.0f;  // * 2^24
    float r = static_cast<float>(static_cast<int32_t>(v));
    const float frac = v - r;
    if (frac > 0.5f || (frac == 0.5f && (static_cast<int32_t>(r) & 1))) r += 1.0f;
    return sign | static_cast<uint16_t>(r);
  }
  // normal: rebias the exponent and round the 23-bit mantissa to 10 bits, ties to even
  uint32_t v = a - 0x38000000u;  // exponent bias 127 -> 15
  v += 0xfffu + ((v >> 13) & 1u);
  return sign | static_cast<uint16_t>(v >> 13);
}

}  // namespace ttt
