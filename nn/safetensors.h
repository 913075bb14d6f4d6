// The safetensors file format (https://huggingface.co/docs/safetensors), read and written here
// without the Python package, and interoperable with it:
//   8 bytes   little-endian u64 N, the header length
//   N bytes   JSON: {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [..],
//             "data_offsets": [begin, end]}, ...}, padded with spaces to a multiple of 8
//   the data  every tensor's bytes, row-major little-endian, at its offsets
// Tensors are laid out as the Python package does: by dtype (widest first), then by name.
// F16 and BF16 tensors load as f32 (exactly) and f32 tensors can be stored as F16/BF16.
//
// Checksums: a writer may store the CRC-32C of every tensor's bytes in the metadata, under
// "crc32c.<name>" (8 hex digits); a reader checks every checksum it finds (checkpoints are
// always written with them and loaded requiring them). The reader also refuses what the format
// forbids: data offsets that overlap, leave holes, or leave bytes after the last tensor.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "nn/module.h"

namespace ttt::nn {

struct SafetensorsData {
  std::vector<NamedTensor> tensors;                // on the cpu, in file order
  std::map<std::string, std::string> file_dtypes;  // name -> "F32", "BF16", ...
  std::map<std::string, std::string> metadata;     // without the checksum entries
  size_t checksummed = 0;                          // tensors whose CRC-32C was stored and matched
};

inline constexpr const char* kChecksumPrefix = "crc32c.";

// Writes atomically: a temporary file in the same folder, fsync, then rename over `path`.
// store_as maps a name to "F16" or "BF16" to store an f32 tensor in 16 bits.
void save_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {},
                      const std::map<std::string, std::string>& store_as = {}, bool with_checksums = false);

// Reads a whole file (a regular file: a FIFO or device is refused, never waited on). A truncated or malformed file is a
// ttt::Error naming the file and the fault.
SafetensorsData load_safetensors(const std::string& path);
// The same from bytes in memory; `source` names them in messages.
SafetensorsData parse_safetensors(const std::string& bytes, const std::string& source);

// Writes `bytes` to `path` atomically (temporary name, fsync, rename, fsync of the folder).
// `path` must be absent or a regular file: a folder, device, FIFO or link is never renamed over.
void write_file_atomically(const std::string& path, const std::string& bytes);

}  // namespace ttt::nn
