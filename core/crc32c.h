// CRC-32C (Castagnoli): the checksum that guards every tensor of a checkpoint. It catches every
// burst error of up to 32 bits and any odd number of flipped bits; a random corruption slips
// through with probability 2^-32. It is a guard against damage, not against deliberate tampering.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace ttt {

uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);
std::string crc32c_hex(const void* data, size_t size);  // 8 lowercase hex digits

}  // namespace ttt
