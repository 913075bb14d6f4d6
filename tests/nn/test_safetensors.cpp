// safetensors: round trips, 16-bit conversions, corrupt files, and interop with the Python package.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/half.h"
#include "nn/layers.h"
#include "nn/safetensors.h"
#include "tests/test_paths.h"

namespace ttt::nn {
namespace {

namespace fs = std::filesystem;

std::string temp_path(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("ttt_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return (dir / name).string();
}

Tensor find(const SafetensorsData& d, const std::string& name) {
  for (auto& [n, t] : d.tensors)
    if (n == name) return t;
  ADD_FAILURE() << "no tensor " << name;
  return Tensor();
}

// The tensors tools/reference/safetensors_interop.py expects (same formulas).
std::vector<NamedTensor> interop_tensors() {
  std::vector<double> f32, f64, f16;
  for (int i = 0; i < 6; ++i) f32.push_back(i * 0.5 - 3);
  for (int i = 0; i < 4; ++i) f64.push_back(i / 3.0);
  for (int i = 0; i < 5; ++i) f16.push_back(i * 0.25 - 1);
  return {{"f32", from_vector(f32, {2, 3}, DType::f32)},
          {"f64", from_vector(f64, {4}, DType::f64)},
          {"i32", from_vector({-7, 0, 2147483647}, {1, 3}, DType::i32)},
          {"i64", from_vector({-1099511627776.0, 5}, {2}, DType::i64)},
          {"f16", from_vector(f16, {5}, DType::f32)},
          {"bf16", from_vector({1.5, -2, 0.1}, {3}, DType::f32)},
          {"empty", zeros({0, 3})}};
}
const std::map<std::string, std::string> kStoreAs{{"f16", "F16"}, {"bf16", "BF16"}};
const std::map<std::string, std::string> kMeta{{"format", "ttt.cpp-interop"}};

TEST(Safetensors, RoundTripEveryDtype) {
  const std::string path = temp_path("roundtrip.safetensors");
  save_safetensors(path, interop_tensors(), kMeta, kStoreAs);
  SafetensorsData d = load_safetensors(path);
  EXPECT_EQ(d.metadata, kMeta);
  EXPECT_EQ(d.file_dtypes.at("bf16"), "BF16");
  EXPECT_EQ(d.file_dtypes.at("i64"), "I64");
  for (auto& [name, t] : interop_tensors()) {
    Tensor got = find(d, name);
    ASSERT_EQ(got.shape(), t.shape()) << name;
    if (name == "bf16") {
      EXPECT_EQ(got.to_vector<float>(), (std::vector<float>{1.5f, -2.0f, bf16_to_float(float_to_bf16(0.1f))}));
    } else {
      EXPECT_EQ(got.to_vector<double>(), t.to_vector<double>()) << name;
      EXPECT_EQ(got.dtype(), t.dtype()) << name;  // F16 loads as f32, the dtype it was saved from
    }
  }
  // Layout follows the Python package: widest dtype first, then by name.
  std::vector<std::string> order;
  for (auto& [n, t] : d.tensors) order.push_back(n);
  EXPECT_EQ(order, (std::vector<std::string>{"i64", "f64", "empty", "f32", "i32", "bf16", "f16"}));
}

TEST(Safetensors, SixteenBitConversionsAreExactRoundTrips) {
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    const uint16_t h = static_cast<uint16_t>(bits);
    const float f = f16_to_float(h);
    if (f == f) {  // NaNs aside
      ASSERT_EQ(float_to_f16(f), h) << "f16 bits " << bits;
    }
    const float b = bf16_to_float(h);
    if (b == b) {
      ASSERT_EQ(float_to_bf16(b), h) << "bf16 bits " << bits;
    }
  }
  EXPECT_EQ(float_to_f16(65520.0f), 0x7c00);            // rounds to infinity
  EXPECT_EQ(float_to_f16(1.0f + 1.0f / 2048), 0x3c00);  // a tie rounds to even
  EXPECT_EQ(float_to_bf16(1.0f + 1.0f / 256), 0x3f80);
}

TEST(Safetensors, TruncatedOrCorruptFilesAreClearErrors) {
  const std::string path = temp_path("good.safetensors");
  save_safetensors(path, interop_tensors(), kMeta, kStoreAs);
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string bad = temp_path("bad.safetensors");
  // every truncation point must be refused with an error, never a crash
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    std::ofstream(bad, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(cut));
    EXPECT_THROW(load_safetensors(bad), Error) << "cut at " << cut;
  }
  std::string corrupt = bytes;
  corrupt[8] = '#';  // the opening brace of the JSON header
  std::ofstream(bad, std::ios::binary | std::ios::trunc) << corrupt;
  try {
    load_safetensors(bad);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_safetensors(temp_path("does_not_exist.safetensors")), Error);
}

TEST(Safetensors, AtomicWriteLeavesNoTemporaryFiles) {
  const std::string path = temp_path("atomic/x.safetensors");
  fs::create_directories(fs::path(path).parent_path());
  save_safetensors(path, {{"a", ones({3})}});
  save_safetensors(path, {{"a", zeros({3})}});
  int files = 0;
  for (auto& e : fs::directory_iterator(fs::path(path).parent_path())) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
  EXPECT_EQ(find(load_safetensors(path), "a").to_vector<float>(), std::vector<float>(3, 0.0f));
}

// Both directions through the Python package (tools/setup.sh installs it in .venv).
TEST(Safetensors, InteropWithThePythonPackage) {
  const std::string script = ttt::testing::source_dir() + "/tools/reference/safetensors_interop.py";
  const std::string cpp_file = temp_path("from_cpp.safetensors"), py_file = temp_path("from_py.safetensors");
  save_safetensors(cpp_file, interop_tensors(), kMeta, kStoreAs);
  const std::string check = ttt::testing::python() + " " + script + " check-cpp " + cpp_file;
  ASSERT_EQ(std::system(check.c_str()), 0) << "the Python package rejected our file: " << check;

  const std::string write = ttt::testing::python() + " " + script + " write-py " + py_file;
  ASSERT_EQ(std::system(write.c_str()), 0) << write;
  SafetensorsData d = load_safetensors(py_file);
  EXPECT_EQ(d.metadata, kMeta);
  for (auto& [name, t] : interop_tensors()) {
    if (name == "bf16") continue;  // numpy has no bfloat16
    EXPECT_EQ(find(d, name).to_vector<double>(), t.to_vector<double>()) << name;
  }
  // Same tensors, same metadata: the two writers produce the same bytes.
  auto read = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  std::vector<NamedTensor> same;
  for (auto& [n, t] : interop_tensors())
    if (n != "bf16") same.emplace_back(n, t);
  const std::string ours = temp_path("ours.safetensors");
  save_safetensors(ours, same, kMeta, {{"f16", "F16"}});
  EXPECT_EQ(read(ours), read(py_file)) << "byte layout differs from the Python package";
}

}  // namespace
}  // namespace ttt::nn

namespace ttt::nn {
namespace {

// A file from a hand-written header: "name": [dtype, shape, begin, end], then `data` bytes.
std::string file_with(const std::string& header_json, const std::string& data) {
  std::string json = header_json;
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  const uint64_t n = json.size();
  std::memcpy(&out[0], &n, 8);
  return out + json + data;
}

std::string error_of(const std::string& bytes) {
  try {
    parse_safetensors(bytes, "case");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Safetensors, ChecksumsRoundTripAndCatchOneFlippedBit) {
  const std::string path = temp_path("checksummed.safetensors");
  save_safetensors(path, {{"a", from_vector({1, 2, 3, 4}, {4})}, {"b", from_vector({5, 6}, {2}, DType::f64)}}, {{"k", "v"}}, {},
                   /*with_checksums=*/true);
  SafetensorsData d = load_safetensors(path);
  EXPECT_EQ(d.checksummed, 2u);
  EXPECT_EQ(d.metadata, (std::map<std::string, std::string>{{"k", "v"}})) << "checksums are not user metadata";
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  for (size_t bit = 0; bit < 8; ++bit) {  // any single bit of the last tensor's bytes
    std::string flipped = bytes;
    flipped[flipped.size() - 3] ^= static_cast<char>(1 << bit);
    EXPECT_NE(error_of(flipped).find("fails its checksum"), std::string::npos) << error_of(flipped);
  }
  // without checksums the same file loads: they are checked when present
  save_safetensors(path, {{"a", from_vector({1, 2, 3, 4}, {4})}});
  EXPECT_EQ(load_safetensors(path).checksummed, 0u);
}

TEST(Safetensors, DataOffsetsMustTileTheDataExactly) {
  const std::string f4(16, '\x01');
  auto entry = [](const std::string& name, int begin, int end) {
    return "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[" + std::to_string((end - begin) / 4) + "],\"data_offsets\":[" +
           std::to_string(begin) + "," + std::to_string(end) + "]}";
  };
  EXPECT_EQ(error_of(file_with("{" + entry("a", 0, 8) + "," + entry("b", 8, 16) + "}", f4)), "(no error)");
  EXPECT_EQ(error_of(file_with("{" + entry("b", 8, 16) + "," + entry("a", 0, 8) + "}", f4)), "(no error)")
      << "header order is free";
  EXPECT_NE(error_of(file_with("{" + entry("a", 0, 8) + "," + entry("b", 4, 12) + "}", f4.substr(0, 12))).find("overlapping"),
            std::string::npos);
  EXPECT_NE(error_of(file_with("{" + entry("a", 0, 8) + "," + entry("b", 0, 8) + "}", f4.substr(0, 8))).find("overlapping"),
            std::string::npos);
  EXPECT_NE(error_of(file_with("{" + entry("a", 0, 4) + "," + entry("b", 8, 16) + "}", f4)).find("belong to no tensor"),
            std::string::npos);
  EXPECT_NE(error_of(file_with("{" + entry("a", 0, 8) + "}", f4)).find("8 bytes after the last tensor's data"),
            std::string::npos);
  EXPECT_NE(error_of(file_with("{\"__metadata__\":{\"crc32c.zz\":\"00000000\"}," + entry("a", 0, 16) + "}", f4))
                .find("checksum for 'zz', which is not in the file"),
            std::string::npos);
}

TEST(Safetensors, NeverWaitsOnOrRenamesOverWhatIsNotAFile) {
  const std::string fifo = temp_path("pipe.safetensors");
  fs::remove(fifo);
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  try {
    load_safetensors(fifo);
    ADD_FAILURE() << "a FIFO was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("FIFO"), std::string::npos) << e.what();
  }
  EXPECT_THROW(save_safetensors(fifo, {{"a", zeros({2})}}), Error);
  EXPECT_TRUE(fs::is_fifo(fifo)) << "the FIFO was replaced";
  const std::string dir = temp_path("a_folder");
  fs::create_directories(dir);
  EXPECT_THROW(write_file_atomically(dir, "x"), Error);
  EXPECT_TRUE(fs::is_directory(dir));
}

TEST(Safetensors, LoadStateDictRefusesAnotherDtypeUnlessACastIsAsked) {
  Generator gen(0);
  Linear layer(2, 3, /*bias=*/true, gen);
  std::vector<NamedTensor> state = layer.state_dict();
  state[0].second = to_dtype(state[0].second, DType::i64);
  try {
    layer.load_state_dict(state);
    ADD_FAILURE() << "an i64 tensor loaded into an f32 parameter";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dtype mismatches (1): " + state[0].first + " (expected f32, got i64)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(layer.load_state_dict(state, /*strict=*/true, /*allow_cast=*/true).ok());
}

}  // namespace
}  // namespace ttt::nn
