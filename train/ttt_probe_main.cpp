// ttt-probe: run one TTT layer forward and backward from files, and write what came out.
// See docs/ttt.md ("ttt-probe") for the file and tensor names.
#include <cstdio>
#include <iostream>
#include <string>

#include "core/error.h"
#include "core/files.h"
#include "nn/safetensors.h"
#include "train/cli.h"
#include "train/probe.h"
#include "train/ttt_yaml.h"

namespace {

const char* kUsage =
    "usage: ttt-probe --config LAYER.yaml --weights WEIGHTS.safetensors --input INPUT.safetensors\n"
    "                 --output OUT.safetensors [--device cpu|cuda] [--dtype f32|f64] [--valid-length N]\n"
    "       ttt-probe --version\n"
    "  WEIGHTS: every parameter of the layer, by name (wq.weight, ..., W1, weights.0, ...)\n"
    "  INPUT:   x [B, L, C] and dy [B, L, C] (the gradient of the loss with respect to the output)\n"
    "  OUT:     y, grad.x and grad.<parameter name> for every parameter\n";

ttt::Tensor find(const ttt::nn::SafetensorsData& d, const std::string& name, const std::string& file) {
  for (auto& [n, t] : d.tensors)
    if (n == name) return t;
  ttt::fail("ttt-probe", file + " has no tensor '" + name + "'");
}

}  // namespace

int main(int argc, char** argv) {
  std::string config, weights, input, output, device = "cpu", dtype = "f32", valid_length_text;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "ttt-probe: " << a << " needs a value\n" << kUsage;
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--config")
      config = value();
    else if (a == "--weights")
      weights = value();
    else if (a == "--input")
      input = value();
    else if (a == "--output")
      output = value();
    else if (a == "--device")
      device = value();
    else if (a == "--dtype")
      dtype = value();
    else if (a == "--valid-length")
      valid_length_text = value();
    else if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--version") {
      std::cout << ttt::cli::version_line("ttt-probe") << "\n";
      return 0;
    } else {
      std::cerr << "ttt-probe: unknown argument '" << a << "'\n" << kUsage;
      return 2;
    }
  }
  if (config.empty() || weights.empty() || input.empty() || output.empty()) {
    std::cerr << "ttt-probe: --config, --weights, --input and --output are required\n" << kUsage;
    return 2;
  }
  return ttt::cli::guarded_main("ttt-probe", [&] {
    const int64_t valid_length =
        valid_length_text.empty() ? -1 : ttt::cli::parse_int("--valid-length", valid_length_text, 0, int64_t{1} << 40);
    const std::string text = ttt::read_regular_file(config, "ttt-probe: the config file", 16u << 20);
    const ttt::TTTConfig cfg = ttt::ttt_config_from_yaml_text(text, config);
    auto w = ttt::nn::load_safetensors(weights);
    auto io = ttt::nn::load_safetensors(input);
    ttt::SeqMetadata meta;
    meta.valid_length = valid_length;
    if (dtype != "f32" && dtype != "f64") ttt::fail("ttt-probe", "--dtype must be f32 or f64, got " + dtype);
    ttt::ProbeResult r = ttt::run_probe(cfg, w.tensors, find(io, "x", input), find(io, "dy", input), meta,
                                        ttt::Device::parse(device), dtype == "f64" ? ttt::DType::f64 : ttt::DType::f32);
    std::vector<ttt::nn::NamedTensor> out{{"y", r.y}};
    out.insert(out.end(), r.grads.begin(), r.grads.end());
    ttt::nn::save_safetensors(output, out, {{"config", text}});
    std::cout << "ttt-probe: wrote " << out.size() << " tensors to " << output << "\n";
    return 0;
  });
}
