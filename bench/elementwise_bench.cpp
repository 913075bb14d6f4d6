// The elementwise kernels alone, at the shapes the Moshi 7B TTT branches' composed scan runs them
// (32 heads, mini-batch 64, inner widths 128 and 512) and a frozen layer's bf16 activations (a
// residual add, attention's [S, H, D] -> [H, S, D] permute): each
// case timed over many launches, as microseconds per op and the GB/s its reads and writes make.
// One JSON line per case; the PyTorch side is tools/reference/bench_elementwise_torch.py with the
// same cases (bench/elementwise_bench.sh).
//   ttt-elementwise-bench [--reps 200]
#include <cmath>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/compute.h"
#include "core/error.h"
#include "core/rng.h"
#include "train/cli.h"

namespace {

using namespace ttt;

struct Case {
  std::string name;
  std::vector<Shape> inputs;
  DType dtype;
  std::function<Tensor(const std::vector<Tensor>&)> op;
};

// The cases (tools/reference/bench_elementwise_torch.py lists the same, in the same order).
std::vector<Case> cases() {
  auto add = [](const std::vector<Tensor>& x) { return compute::binary(BinaryOp::add, x[0], x[1]); };
  auto mul = [](const std::vector<Tensor>& x) { return compute::binary(BinaryOp::mul, x[0], x[1]); };
  auto gelu = [](const std::vector<Tensor>& x) { return compute::unary(UnaryOp::gelu, x[0]); };
  auto bias_sum = [](const std::vector<Tensor>& x) { return compute::sum_to(x[0], {1, 32, 1, 512}); };
  auto heads_first = [](const std::vector<Tensor>& x) { return compute::permute(x[0], {1, 0, 2}); };
  return {
      {"add activations", {{1, 32, 64, 512}, {1, 32, 64, 512}}, DType::f32, add},
      {"add inner weights", {{1, 32, 512, 512}, {1, 32, 512, 512}}, DType::f32, add},
      {"add bias", {{1, 32, 64, 512}, {1, 32, 1, 512}}, DType::f32, add},
      {"mul column", {{1, 32, 64, 1}, {1, 32, 64, 512}}, DType::f32, mul},
      {"gelu", {{1, 32, 64, 512}}, DType::f32, gelu},
      {"sum to bias", {{1, 32, 64, 512}}, DType::f32, bias_sum},
      {"add bf16 residual", {{2048, 4096}, {2048, 4096}}, DType::bf16, add},
      {"permute bf16 heads first", {{2048, 32, 128}}, DType::bf16, heads_first},
  };
}

}  // namespace

int main(int argc, char** argv) {
  try {
    int64_t reps = 200;
    for (int i = 1; i + 1 < argc; i += 2) {
      const std::string a = argv[i], v = argv[i + 1];
      if (a == "--reps")
        reps = cli::parse_int(a, v, 1, 100000);
      else
        fail("ttt-elementwise-bench", "unknown flag '" + a + "'");
    }
    TTT_CHECK(cuda_available(), "ttt-elementwise-bench", "needs a CUDA GPU");
    const Device device = Device::cuda(0);
    Generator gen(0);
    void* start = cuda::event_create();
    void* end = cuda::event_create();
    for (const Case& c : cases()) {
      std::vector<Tensor> in;
      double bytes = 0;
      for (const Shape& s : c.inputs) {
        in.push_back(to_device(to_dtype(randn(s, gen), c.dtype), device));
        bytes += static_cast<double>(in.back().numel()) * dtype_size(c.dtype);
      }
      Tensor out = c.op(in);  // warm-up (and the allocator's cache)
      bytes += static_cast<double>(out.numel()) * dtype_size(c.dtype);
      cuda::synchronize();
      cuda::event_record(start);
      for (int64_t r = 0; r < reps; ++r) out = c.op(in);
      cuda::event_record(end);
      cuda::synchronize();
      const double us = cuda::event_elapsed_ms(start, end) * 1000.0 / static_cast<double>(reps);
      const nlohmann::ordered_json row = {{"impl", "ttt.cpp"},
                                          {"case", c.name},
                                          {"us", std::round(us * 100) / 100},
                                          {"gb_per_s", std::round(bytes / (us * 1e-6) / 1e9)}};
      std::cout << row.dump() << std::endl;
    }
    return 0;
  } catch (const Error& e) {
    std::cerr << "ttt-elementwise-bench: " << e.what() << "\n";
    return 1;
  }
}
