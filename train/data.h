// Training data. Every batch is a pure function of (seed, split, batch index), so the data order
// is deterministic and resuming needs nothing but the step number.
//   recall  multi-query associative recall, generated (the zero-setup default)
//   text    byte-level language modelling on any file (vocab 256)
//   tokens  pre-tokenized files with one or more streams (format below)
#pragma once
#include <map>
#include <memory>
#include <string>

#include "core/tensor.h"
#include "train/config.h"

namespace ttt {

struct Batch {
  Tensor inputs;   // [B, S, streams] i64 on the cpu
  Tensor targets;  // [B, S, streams] i64; the stream's pad id where there is nothing to predict
};

class DataSource {
 public:
  virtual ~DataSource() = default;
  virtual Batch batch(int64_t index, bool validation) const = 0;
  virtual std::string describe() const = 0;
  // False when there is no validation split (data.val_fraction: 0): evaluation is skipped.
  virtual bool has_validation() const { return true; }
  // What identifies the data of a run (checkpoints store it; --resume compares it): the source,
  // and for files the path, the size and the CRC-32C of the first MiB.
  std::map<std::string, std::string> identity;
};

// Data parallelism (train/distributed.h): the global batch of step i is count * run.batch_size rows,
// row r drawn from (seed, split, i * global + r) whatever the number of processes; shard k of
// count takes rows [k * batch_size, (k + 1) * batch_size). One shard of one is today's batch.
struct DataShard {
  int64_t rank = 0, count = 1;
  uint64_t row_seed(int64_t index, int64_t batch, int64_t row) const {
    return static_cast<uint64_t>(index * batch * count + rank * batch + row) << 20;
  }
};

// Checks files and sizes against the config (clear errors, e.g. a missing data file).
std::unique_ptr<DataSource> make_data(const TrainConfig& config, DataShard shard = {});

// ---- token files ----
// Little-endian. Header (32 bytes): magic "TTTTOKNS", u32 version (1), u32 num_streams,
// u32 bytes per token (2 or 4), u32 reserved (0), u64 num_steps. Then num_steps * num_streams
// unsigned tokens, step-major: the tokens of all streams for step 0, then step 1, ...
// The all-ones value of the width (0xFFFF, 0xFFFFFFFF) is "no token" (Moshi's -1: the stream says
// nothing at that step); TokenFile holds it as kNoTokenCode. Training reads it as a zero embedding
// in the inputs and no target; ttt-generate --out writes it for input-only streams after the prompt.
inline constexpr uint32_t kNoTokenCode = 0xFFFFFFFFu;
struct TokenFile {
  int64_t num_streams = 0;
  std::vector<uint32_t> tokens;  // num_steps * num_streams
  int64_t num_steps() const { return num_streams ? static_cast<int64_t>(tokens.size()) / num_streams : 0; }
};
TokenFile read_token_file(const std::string& path);
TokenFile parse_token_file(const std::string& bytes, const std::string& source);
void write_token_file(const std::string& path, const TokenFile& file, int bytes_per_token = 2);
// One stream of bytes of a text file (the converter behind `ttt-tokens from-text`).
TokenFile token_file_from_text(const std::string& text_path);
TokenFile token_file_from_bytes(const std::string& bytes);

}  // namespace ttt
