// Philox-4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as 1, 2, 3", 2011)
// and the conversions to uniform and normal samples, shared by the CPU and CUDA backends.
// Sample i uses the counter (i, 0, 0, 0)-style block (offset + i) under the 64-bit key `seed`.
// Normals use Box-Muller evaluated in double so both backends round to the same float.
#pragma once
#include <math.h>
#include <stdint.h>

#include "core/scalar_math.h"

namespace ttt::philox {

struct U4 {
  uint32_t x, y, z, w;
};

TTT_HD uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t* hi) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  return static_cast<uint32_t>(p);
}

TTT_HD U4 philox4x32_10(uint64_t counter, uint64_t seed) {
  U4 c{static_cast<uint32_t>(counter), static_cast<uint32_t>(counter >> 32), 0u, 0u};
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, hi1;
    uint32_t lo0 = mulhilo(0xD2511F53u, c.x, &hi0);
    uint32_t lo1 = mulhilo(0xCD9E8D57u, c.z, &hi1);
    c = U4{hi1 ^ c.y ^ k0, lo1, hi0 ^ c.w ^ k1, lo0};
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return c;
}

// Uniform in [0, 1) with 24 random bits (exact in float).
TTT_HD double uniform(uint64_t counter, uint64_t seed) { return (philox4x32_10(counter, seed).x >> 8) * (1.0 / 16777216.0); }

// Uniform in [0, 1) with 53 random bits (the x word's 32 above 21 of the y word): a sampler's draw,
// fine enough that no token's probability is rounded away.
TTT_HD double uniform53(uint64_t counter, uint64_t seed) {
  const U4 r = philox4x32_10(counter, seed);
  return static_cast<double>((static_cast<uint64_t>(r.x) << 21) | (r.y >> 11)) * (1.0 / 9007199254740992.0);
}

// Standard normal by Box-Muller on two 32-bit uniforms from one Philox block.
TTT_HD double normal(uint64_t counter, uint64_t seed) {
  U4 r = philox4x32_10(counter, seed);
  double u1 = (r.x + 1.0) * (1.0 / 4294967297.0);  // in (0, 1): log is finite
  double u2 = r.y * (1.0 / 4294967296.0);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

}  // namespace ttt::philox
