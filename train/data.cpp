#include "train/data.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/crc32c.h"
#include "core/error.h"
#include "core/files.h"
#include "core/philox.h"
#include "nn/safetensors.h"

namespace ttt {

namespace {

// Separate random streams for the two splits; draw k of sample s is Philox(seed', s * 2^20 + k).
uint64_t split_seed(uint64_t seed, bool validation) {
  return seed * 2654435761ULL + (validation ? 0x5eed0001ULL : 0x5eed0000ULL);
}

struct Draws {
  uint64_t seed, base;
  uint64_t k = 0;
  int64_t below(int64_t n) { return static_cast<int64_t>(philox::uniform(base + k++, seed) * static_cast<double>(n)) % n; }
};

// named_by: the config key the path came from, named in the error ("" when a program's argument)
std::string read_all(const std::string& path, const char* what, const std::string& named_by = "") {
  const std::string problem = regular_file_problem(path);
  TTT_CHECK(problem.empty(), "data", "cannot read the ", what, " '", path, "'",
            named_by.empty() ? std::string() : " (see " + named_by + ")", ": ", problem);
  return read_regular_file(path, "data");
}

std::map<std::string, std::string> file_identity(const std::string& source, const std::string& path, const std::string& bytes) {
  const size_t head = std::min<size_t>(bytes.size(), size_t{1} << 20);
  return {{"source", source},
          {"path", path},
          {"size", std::to_string(bytes.size())},
          {"crc32c_first_mib", crc32c_hex(bytes.data(), head)}};
}

class RecallData : public DataSource {
 public:
  RecallData(const TrainConfig& c, DataShard shard)
      : task_(c.data.recall), seed_(c.run.seed), B_(c.run.batch_size), S_(c.run.seq_len), shard_(shard) {
    identity = {{"source", "recall"}};  // generated: the config's data.recall keys say the rest
  }

  // keys k_1 v_1 ... k_P v_P, then queries k_j v_j for random pairs j; the target of a query key
  // is its value, every other position predicts nothing (pad id).
  Batch batch(int64_t index, bool validation) const override {
    const int64_t P = task_.num_pairs, pad = task_.num_keys + task_.num_values;
    std::vector<double> in(B_ * S_, static_cast<double>(pad)), tg(B_ * S_, static_cast<double>(pad));
    for (int64_t b = 0; b < B_; ++b) {
      Draws r{split_seed(seed_, validation), shard_.row_seed(index, B_, b)};
      std::vector<int64_t> keys(task_.num_keys), vals(P);
      for (int64_t i = 0; i < task_.num_keys; ++i) keys[i] = i;
      for (int64_t i = 0; i < P; ++i) std::swap(keys[i], keys[i + r.below(task_.num_keys - i)]);  // distinct keys
      for (int64_t i = 0; i < P; ++i) vals[i] = task_.num_keys + r.below(task_.num_values);
      double* row = in.data() + b * S_;
      double* trow = tg.data() + b * S_;
      int64_t t = 0;
      for (int64_t i = 0; i < P; ++i) {
        row[t++] = static_cast<double>(keys[i]);
        row[t++] = static_cast<double>(vals[i]);
      }
      while (t + 1 < S_) {
        const int64_t j = r.below(P);
        row[t] = static_cast<double>(keys[j]);
        trow[t] = static_cast<double>(vals[j]);
        row[t + 1] = static_cast<double>(vals[j]);
        t += 2;
      }
    }
    return {from_vector(in, {B_, S_, 1}, DType::i64), from_vector(tg, {B_, S_, 1}, DType::i64)};
  }
  std::string describe() const override {
    return "recall: " + std::to_string(task_.num_pairs) + " pairs over " + std::to_string(task_.num_keys) + " keys and " +
           std::to_string(task_.num_values) + " values (chance accuracy " + std::to_string(1.0 / task_.num_values).substr(0, 6) +
           ")";
  }

 private:
  RecallTask task_;
  uint64_t seed_;
  int64_t B_, S_;
  DataShard shard_;
};

// Windows of seq_len + 1 steps from a [steps, streams] token array; the last val_fraction of
// the steps is the validation split.
class WindowData : public DataSource {
 public:
  WindowData(TokenFile file, const TrainConfig& c, std::string what, DataShard shard)
      : file_(std::move(file)),
        seed_(c.run.seed),
        B_(c.run.batch_size),
        S_(c.run.seq_len),
        what_(std::move(what)),
        shard_(shard) {
    for (int64_t s = 0; s < c.model.num_streams(); ++s) {
      delays_.push_back(c.data.delays.empty() ? 0 : c.data.delays[s]);
      pads_.push_back(c.model.pad_id(s));
    }
    const int64_t steps = file_.num_steps();
    val_start_ = c.data.held_out ? 0 : steps - static_cast<int64_t>(static_cast<double>(steps) * c.data.val_fraction);
    has_validation_ = val_start_ < steps;
    if (c.data.held_out)
      TTT_CHECK(steps > S_ + 1, "data", what_, " has ", steps, " steps: too few for a window of run.seq_len + 1 = ", S_ + 1);
    else
      TTT_CHECK(val_start_ > S_ + 1 && (c.data.val_fraction == 0 || steps - val_start_ > S_ + 1), "data", what_, " has ", steps,
                " steps: too few for windows of run.seq_len + 1 = ", S_ + 1, " in both splits (val_fraction ",
                c.data.val_fraction, ")");
    TTT_CHECK(file_.num_streams == c.model.num_streams(), "data", what_, " has ", file_.num_streams,
              " streams but the model has 1 + model.audio_streams = ", c.model.num_streams());
    for (size_t i = 0; i < file_.tokens.size(); ++i) {
      const int64_t s = static_cast<int64_t>(i) % file_.num_streams;
      TTT_CHECK(file_.tokens[i] == kNoTokenCode || file_.tokens[i] < static_cast<uint64_t>(c.model.vocab(s)), "data", what_,
                ": token ", file_.tokens[i], " of stream ", s, " at step ", static_cast<int64_t>(i) / file_.num_streams,
                " is outside the vocab ", c.model.vocab(s));
    }
  }
  Batch batch(int64_t index, bool validation) const override {
    const int64_t N = file_.num_streams, lo = validation ? val_start_ : 0, hi = validation ? file_.num_steps() : val_start_;
    // a window of S_ + 1 steps must fit in [lo, hi): never read outside the token buffer
    TTT_CHECK(hi - lo >= S_ + 1, "data", what_, ": the ", validation ? "validation" : "training", " split has ", hi - lo,
              " steps, too few for a window of run.seq_len + 1 = ", S_ + 1);
    std::vector<double> in(B_ * S_ * N), tg(B_ * S_ * N);
    for (int64_t b = 0; b < B_; ++b) {
      Draws r{split_seed(seed_, validation), shard_.row_seed(index, B_, b)};
      const int64_t start = lo + r.below(hi - lo - S_ - 1 + 1);
      // stream s at position t shows the token of step t - delay[s] (the pad id before the split);
      // "no token" is -1 in the inputs (a zero embedding) and the pad id in the targets (no target)
      auto token = [&](int64_t step, int64_t s, bool input) {
        const int64_t from = step - delays_[s];
        if (from < lo) return static_cast<double>(pads_[s]);
        const uint32_t code = file_.tokens[from * N + s];
        return code != kNoTokenCode ? static_cast<double>(code)
               : input              ? static_cast<double>(kNoToken)
                                    : static_cast<double>(pads_[s]);
      };
      for (int64_t t = 0; t < S_; ++t)
        for (int64_t s = 0; s < N; ++s) {
          in[(b * S_ + t) * N + s] = token(start + t, s, true);
          tg[(b * S_ + t) * N + s] = token(start + t + 1, s, false);
        }
    }
    return {from_vector(in, {B_, S_, N}, DType::i64), from_vector(tg, {B_, S_, N}, DType::i64)};
  }
  std::string describe() const override {
    return what_ + ": " + std::to_string(file_.num_steps()) + " steps x " + std::to_string(file_.num_streams) + " stream(s), " +
           (has_validation_ ? "validation from step " + std::to_string(val_start_) : "no validation split");
  }
  bool has_validation() const override { return has_validation_; }

 private:
  TokenFile file_;
  uint64_t seed_;
  int64_t B_, S_, val_start_ = 0;
  bool has_validation_ = true;
  std::string what_;
  std::vector<int64_t> delays_, pads_;
  DataShard shard_;
};

}  // namespace

TokenFile token_file_from_text(const std::string& text_path) { return token_file_from_bytes(read_all(text_path, "text file")); }

TokenFile token_file_from_bytes(const std::string& bytes) {
  TokenFile f;
  f.num_streams = 1;
  f.tokens.assign(bytes.begin(), bytes.end());
  for (auto& t : f.tokens) t &= 0xffu;  // char may be signed
  return f;
}

TokenFile read_token_file(const std::string& path) { return parse_token_file(read_all(path, "token file"), path); }

TokenFile parse_token_file(const std::string& b, const std::string& source) {
  const std::string where = "token file " + source;
  TTT_CHECK(b.size() >= 32, where, "is ", b.size(), " bytes, shorter than the 32-byte header (truncated?)");
  TTT_CHECK(b.compare(0, 8, "TTTTOKNS") == 0, where, "does not start with the magic 'TTTTOKNS' (not a token file)");
  uint32_t version, streams, width, reserved;
  uint64_t steps;
  std::memcpy(&version, b.data() + 8, 4);
  std::memcpy(&streams, b.data() + 12, 4);
  std::memcpy(&width, b.data() + 16, 4);
  std::memcpy(&reserved, b.data() + 20, 4);
  std::memcpy(&steps, b.data() + 24, 8);
  TTT_CHECK(version == 1, where, "has version ", version, "; this build reads version 1");
  TTT_CHECK(streams >= 1 && streams <= 64, where, "has ", streams, " streams (expected 1 to 64)");
  TTT_CHECK(width == 2 || width == 4, where, "has ", width, " bytes per token (expected 2 or 4)");
  TTT_CHECK(steps <= (uint64_t{1} << 40), where, "claims ", steps, " steps");
  const uint64_t need = 32 + steps * streams * width;
  TTT_CHECK(b.size() == need, where, "should be ", need, " bytes for ", steps, " steps x ", streams, " streams x ", width,
            " bytes, but is ", b.size(), " (truncated or corrupt)");
  TokenFile f;
  f.num_streams = streams;
  f.tokens.resize(steps * streams);
  for (size_t i = 0; i < f.tokens.size(); ++i) {
    if (width == 2) {
      uint16_t v;
      std::memcpy(&v, b.data() + 32 + 2 * i, 2);
      f.tokens[i] = v == 0xffffu ? kNoTokenCode : v;
    } else {
      std::memcpy(&f.tokens[i], b.data() + 32 + 4 * i, 4);
    }
  }
  return f;
}

void write_token_file(const std::string& path, const TokenFile& f, int width) {
  TTT_CHECK(width == 2 || width == 4, "write_token_file", "bytes per token must be 2 or 4");
  std::string b(32, '\0');
  std::memcpy(&b[0], "TTTTOKNS", 8);
  const uint32_t version = 1, streams = static_cast<uint32_t>(f.num_streams), w = static_cast<uint32_t>(width);
  const uint64_t steps = static_cast<uint64_t>(f.num_steps());
  std::memcpy(&b[8], &version, 4);
  std::memcpy(&b[12], &streams, 4);
  std::memcpy(&b[16], &w, 4);
  std::memcpy(&b[24], &steps, 8);
  for (uint32_t t : f.tokens) {
    TTT_CHECK(width == 4 || t < 0xffffu || t == kNoTokenCode, "write_token_file", "token ", t,
              " does not fit in 2 bytes (0xFFFF is \"no token\")");
    b.append(reinterpret_cast<const char*>(&t),
             static_cast<size_t>(width));  // little-endian hosts: kNoTokenCode's low bytes are all ones
  }
  nn::write_file_atomically(path, b);
}

std::unique_ptr<DataSource> make_data(const TrainConfig& c, DataShard shard) {
  TTT_CHECK(shard.count >= 1 && shard.rank >= 0 && shard.rank < shard.count, "data", "shard ", shard.rank, " of ", shard.count);
  if (c.data.source == DataSourceKind::recall) return std::make_unique<RecallData>(c, shard);
  const bool text = c.data.source == DataSourceKind::text;
  const std::string bytes = read_all(c.data.path, text ? "text file" : "token file", "data.path");
  TokenFile file = text ? token_file_from_bytes(bytes) : parse_token_file(bytes, c.data.path);
  auto data = std::make_unique<WindowData>(std::move(file), c, (text ? "text file " : "token file ") + c.data.path, shard);
  data->identity = file_identity(enum_name(c.data.source), c.data.path, bytes);
  return data;
}

}  // namespace ttt
