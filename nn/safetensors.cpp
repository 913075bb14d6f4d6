#include "nn/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/crc32c.h"
#include "core/error.h"
#include "core/files.h"
#include "core/half.h"

namespace ttt::nn {

namespace {

using ordered_json = nlohmann::ordered_json;

struct FileDType {
  const char* name;
  size_t size;
  int order;  // the Python package's dtype order; wider / later first in the file
};

const FileDType kDTypes[] = {{"F16", 2, 11}, {"BF16", 2, 12}, {"I32", 4, 13}, {"F32", 4, 15}, {"F64", 8, 16}, {"I64", 8, 17}};

const FileDType* find_dtype(const std::string& name) {
  for (const auto& d : kDTypes)
    if (name == d.name) return &d;
  return nullptr;
}

std::string file_dtype_of(DType t) {
  switch (t) {
    case DType::f32:
      return "F32";
    case DType::f64:
      return "F64";
    case DType::i32:
      return "I32";
    case DType::i64:
      return "I64";
    case DType::bf16:
      return "BF16";
  }
  return "?";
}

// The tensor's bytes as stored in the file (little-endian hosts only).
std::string encode(const Tensor& t, const std::string& file_dtype) {
  Tensor host = to_device(t, Device::cpu());
  if (file_dtype == "F16" || file_dtype == "BF16") {
    std::vector<float> v = host.to_vector<float>();
    std::string out(v.size() * 2, '\0');
    for (size_t i = 0; i < v.size(); ++i) {
      uint16_t h = file_dtype == "F16" ? float_to_f16(v[i]) : float_to_bf16(v[i]);
      std::memcpy(&out[2 * i], &h, 2);
    }
    return out;
  }
  return std::string(static_cast<const char*>(host.raw_data()), host.numel() * dtype_size(host.dtype()));
}

Tensor decode(const char* bytes, const std::string& file_dtype, const Shape& shape) {
  const int64_t n = numel_of(shape);
  if (file_dtype == "F16" || file_dtype == "BF16") {
    Tensor t = empty(shape, DType::f32);
    float* p = t.data<float>();
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, bytes + 2 * i, 2);
      p[i] = file_dtype == "F16" ? f16_to_float(h) : bf16_to_float(h);
    }
    return t;
  }
  DType dt = file_dtype == "F32" ? DType::f32 : file_dtype == "F64" ? DType::f64 : file_dtype == "I32" ? DType::i32 : DType::i64;
  Tensor t = empty(shape, dt);
  if (n) std::memcpy(t.raw_data(), bytes, n * dtype_size(dt));
  return t;
}

void sync_or_fail(int fd, const std::string& what) {
  if (fsync(fd) != 0) fail("write_file_atomically", "fsync of " + what + " failed: " + std::strerror(errno));
}

}  // namespace

void write_file_atomically(const std::string& path, const std::string& bytes) {
  namespace fs = std::filesystem;
  require_replaceable_output(path, "write_file_atomically");
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string tmp_name = ".";  // ".<name>.tmp.<pid>"
  tmp_name += target.filename().string();
  tmp_name += ".tmp.";
  tmp_name += std::to_string(getpid());
  const std::string tmp = (dir / tmp_name).string();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) fail("write_file_atomically", "cannot create " + tmp + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const std::string err = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      fail("write_file_atomically", "writing " + path + " failed after " + std::to_string(done) + " of " +
                                        std::to_string(bytes.size()) + " bytes: " + err + " (the previous file is kept)");
    }
    done += static_cast<size_t>(w);
  }
  try {
    sync_or_fail(fd, tmp);
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    fail("write_file_atomically", "renaming " + tmp + " to " + path + " failed: " + err);
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {  // make the rename itself durable
    fsync(dfd);
    ::close(dfd);
  }
}

void save_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata, const std::map<std::string, std::string>& store_as,
                      bool with_checksums) {
  struct Item {
    std::string name, dtype;
    Tensor t;
  };
  std::vector<Item> items;
  for (const auto& [name, t] : tensors) {
    TTT_CHECK(t.defined() && !t.device().is_meta(), "save_safetensors", "tensor '", name, "' has no data (", t.describe(), ")");
    std::string dt = file_dtype_of(t.dtype());
    if (auto it = store_as.find(name); it != store_as.end()) {
      TTT_CHECK((it->second == "F16" || it->second == "BF16") && t.dtype() == DType::f32, "save_safetensors", "tensor '", name,
                "' can be stored as F16/BF16 only from f32, asked ", it->second, " for ", t.describe());
      dt = it->second;
    }
    items.push_back({name, dt, t});
  }
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    int oa = find_dtype(a.dtype)->order, ob = find_dtype(b.dtype)->order;
    return oa != ob ? oa > ob : a.name < b.name;
  });
  std::vector<std::string> encoded;
  std::map<std::string, std::string> meta_all = metadata;
  for (const Item& it : items) {
    encoded.push_back(encode(it.t, it.dtype));
    if (with_checksums) meta_all[kChecksumPrefix + it.name] = crc32c_hex(encoded.back().data(), encoded.back().size());
  }
  ordered_json header = ordered_json::object();
  if (!meta_all.empty()) {
    ordered_json meta = ordered_json::object();
    for (const auto& [k, v] : meta_all) meta[k] = v;
    header["__metadata__"] = meta;
  }
  std::string data;
  for (size_t i = 0; i < items.size(); ++i) {
    const Item& it = items[i];
    TTT_CHECK(!header.contains(it.name), "save_safetensors", "tensor name '", it.name, "' appears twice");
    const std::string& bytes = encoded[i];
    ordered_json entry = ordered_json::object();
    entry["dtype"] = it.dtype;
    entry["shape"] = it.t.shape();
    entry["data_offsets"] = {data.size(), data.size() + bytes.size()};
    header[it.name] = entry;
    data += bytes;
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string file(8, '\0');
  const uint64_t n = json.size();
  std::memcpy(&file[0], &n, 8);
  file += json;
  file += data;
  write_file_atomically(path, file);
}

SafetensorsData load_safetensors(const std::string& path) {
  return parse_safetensors(read_regular_file(path, "load_safetensors(" + path + ")"), path);
}

SafetensorsData parse_safetensors(const std::string& file, const std::string& source) {
  const std::string where = "load_safetensors(" + source + ")";
  TTT_CHECK(file.size() >= 8, where, "the file is ", file.size(), " bytes: too short to hold a safetensors header (truncated?)");
  uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  TTT_CHECK(n <= file.size() - 8, where, "the header claims ", n, " bytes but the file has only ", file.size() - 8,
            " after the length field (truncated or not a safetensors file)");
  ordered_json header;
  try {
    header = ordered_json::parse(file.begin() + 8, file.begin() + 8 + static_cast<int64_t>(n));
  } catch (const std::exception& e) {
    fail(where, std::string("the header is not valid JSON: ") + e.what());
  }
  TTT_CHECK(header.is_object(), where, "the header is not a JSON object");
  const char* data = file.data() + 8 + n;
  const uint64_t data_size = file.size() - 8 - n;
  SafetensorsData out;
  std::map<std::string, std::string> checksums;
  std::vector<std::pair<uint64_t, uint64_t>> spans;  // every tensor's [begin, end): must tile the data
  std::vector<std::string> span_names;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& e = it.value();
    if (name == "__metadata__") {
      TTT_CHECK(e.is_object(), where, "__metadata__ is not an object");
      for (auto m = e.begin(); m != e.end(); ++m) {
        TTT_CHECK(m.value().is_string(), where, "metadata value '", m.key(), "' is not a string");
        if (m.key().rfind(kChecksumPrefix, 0) == 0)
          checksums[m.key().substr(std::strlen(kChecksumPrefix))] = m.value().get<std::string>();
        else
          out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    TTT_CHECK(e.is_object() && e.contains("dtype") && e.contains("shape") && e.contains("data_offsets"), where, "tensor '", name,
              "' lacks dtype, shape or data_offsets");
    TTT_CHECK(e["dtype"].is_string(), where, "tensor '", name, "': dtype is not a string");
    const std::string dt = e["dtype"].get<std::string>();
    const FileDType* fd = find_dtype(dt);
    TTT_CHECK(fd != nullptr, where, "tensor '", name, "' has dtype ", dt,
              ", which ttt.cpp does not read (F32, F16, BF16, F64, I32, I64)");
    Shape shape;
    TTT_CHECK(e["shape"].is_array(), where, "tensor '", name, "': shape is not a list");
    int64_t count = 1;  // checked as it grows, so a hostile shape cannot overflow it
    for (const auto& d : e["shape"]) {
      TTT_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0), where, "tensor '", name,
                "' has a bad extent in its shape");
      const int64_t extent = d.get<int64_t>();
      TTT_CHECK(extent <= (int64_t{1} << 40) && (count == 0 || extent <= (int64_t{1} << 50) / count), where, "tensor '", name,
                "' has an implausible shape (extent ", extent, " after ", shape.size(), " dims)");
      count *= extent;
      shape.push_back(extent);
    }
    const auto& off = e["data_offsets"];
    TTT_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(), where, "tensor '",
              name, "': data_offsets must be two non-negative integers");
    const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    TTT_CHECK(begin <= end && end <= data_size, where, "tensor '", name, "' spans bytes [", begin, ", ", end,
              ") but the data section has ", data_size, " bytes (truncated?)");
    const uint64_t expected = static_cast<uint64_t>(numel_of(shape)) * fd->size;
    TTT_CHECK(end - begin == expected, where, "tensor '", name, "' of shape ", shape_str(shape), " and dtype ", dt, " needs ",
              expected, " bytes, its offsets give ", end - begin);
    if (auto c = checksums.find(name); c != checksums.end()) {
      const std::string got = crc32c_hex(data + begin, end - begin);
      TTT_CHECK(got == c->second, where, "tensor '", name, "' fails its checksum (CRC-32C stored ", c->second,
                ", its bytes give ", got, "): the file is damaged");
      ++out.checksummed;
    }
    spans.emplace_back(begin, end);
    span_names.push_back(name);
    out.tensors.emplace_back(name, decode(data + begin, dt, shape));
    out.file_dtypes[name] = dt;
  }
  for (const auto& [name, crc] : checksums)
    TTT_CHECK(out.file_dtypes.count(name), where, "the metadata holds a checksum for '", name, "', which is not in the file");
  // The format's rule: the tensors' byte ranges cover the data section exactly, without overlap,
  // hole or trailing bytes (so no byte of the file goes unchecked or is read twice).
  std::vector<size_t> order(spans.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return spans[a] < spans[b]; });
  uint64_t at = 0;
  for (size_t i : order) {
    if (spans[i].first == spans[i].second) continue;  // an empty tensor occupies no bytes
    TTT_CHECK(spans[i].first >= at, where, "tensor '", span_names[i], "' starts at byte ", spans[i].first,
              ", inside the bytes of another tensor (overlapping data offsets)");
    TTT_CHECK(spans[i].first == at, where, "bytes [", at, ", ", spans[i].first,
              ") of the data belong to no tensor (a hole before '", span_names[i], "')");
    at = spans[i].second;
  }
  TTT_CHECK(at == data_size, where, "the file has ", data_size - at, " bytes after the last tensor's data (trailing bytes)");
  return out;
}

}  // namespace ttt::nn
