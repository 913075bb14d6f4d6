#include "core/crc32c.h"

#include <array>
#include <cstdio>

namespace ttt {

namespace {

// One table of the reflected polynomial 0x82F63B78, a byte at a time: a few hundred MB/s, far
// below the cost of writing the bytes to disk.
std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}

}  // namespace

uint32_t crc32c(const void* data, size_t size, uint32_t crc) {
  static const std::array<uint32_t, 256> table = make_table();
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

std::string crc32c_hex(const void* data, size_t size) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", crc32c(data, size));
  return buf;
}

}  // namespace ttt
