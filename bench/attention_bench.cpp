// The attention op alone, forward + backward: the flash kernels (bf16 or f32, head dim 64 or 128)
// against the composed block products (what any other head dim runs). One JSON line per run; the
// PyTorch side is tools/reference/bench_attention_torch.py with the same sizes (bench/attention_bench.sh).
//   ttt-attention-bench --batch 1 --heads 32 --len 3000 --dim 128 [--window 0] [--impl flash|composed]
//                       [--dtype bf16|f32] [--precision f32|tf32|bf16] [--reps 10] [--warmup 3]
// --precision: how f32 products round their operands (run.matmul_precision).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "core/allocator.h"
#include "core/backend.h"
#include "core/compute.h"
#include "core/error.h"
#include "core/rng.h"
#include "train/cli.h"

int main(int argc, char** argv) {
  using namespace ttt;
  try {
    int64_t B = 1, H = 32, L = 3000, D = 128, window = 0, reps = 10, warmup = 3;
    std::string impl = "flash", dtype = "bf16", precision = "f32";
    for (int i = 1; i + 1 < argc; i += 2) {
      const std::string a = argv[i], v = argv[i + 1];
      if (a == "--batch")
        B = cli::parse_int(a, v, 1, 1 << 16);
      else if (a == "--heads")
        H = cli::parse_int(a, v, 1, 1 << 10);
      else if (a == "--len")
        L = cli::parse_int(a, v, 1, 1 << 20);
      else if (a == "--dim")
        D = cli::parse_int(a, v, 1, 1024);
      else if (a == "--window")
        window = cli::parse_int(a, v, 0, 1 << 20);
      else if (a == "--reps")
        reps = cli::parse_int(a, v, 1, 1000);
      else if (a == "--warmup")
        warmup = cli::parse_int(a, v, 0, 1000);
      else if (a == "--impl")
        impl = v;
      else if (a == "--dtype")
        dtype = v;
      else if (a == "--precision")
        precision = v;
      else
        fail("ttt-attention-bench", "unknown flag '" + a + "'");
    }
    TTT_CHECK(impl == "flash" || impl == "composed", "ttt-attention-bench", "--impl is flash or composed, got '", impl, "'");
    TTT_CHECK(dtype == "bf16" || dtype == "f32", "ttt-attention-bench", "--dtype is bf16 or f32, got '", dtype, "'");
    TTT_CHECK(precision == "f32" || precision == "tf32" || precision == "bf16", "ttt-attention-bench",
              "--precision is f32, tf32 or bf16, got '", precision, "'");
    TTT_CHECK(cuda_available(), "ttt-attention-bench", "needs a CUDA GPU");
    compute::set_matmul_precision(precision == "tf32"   ? compute::MatmulPrecision::tf32
                                  : precision == "bf16" ? compute::MatmulPrecision::bf16
                                                        : compute::MatmulPrecision::f32);
    compute::set_flash_attention(impl == "flash");
    const Device device = Device::cuda(0);
    const DType dt = dtype == "bf16" ? DType::bf16 : DType::f32;
    Generator gen(0);
    std::vector<Tensor> in;
    for (int i = 0; i < 4; ++i) in.push_back(to_device(to_dtype(randn({B, H, L, D}, gen), dt), device));
    TTT_CHECK(impl == "composed" || compute::flash_attention_applies(in[0]), "ttt-attention-bench",
              "the flash kernels do not take ", in[0].describe());
    const double scale = 1.0 / std::sqrt(static_cast<double>(D));
    void* start = cuda::event_create();
    void* end = cuda::event_create();
    std::vector<double> ms;
    cuda::synchronize();
    const size_t before = cuda::allocator_stats().current_bytes;
    cuda::reset_peak_memory();
    for (int64_t r = 0; r < warmup + reps; ++r) {
      std::vector<Tensor> leaves;
      for (int i = 0; i < 3; ++i) leaves.push_back(in[i].detach().set_requires_grad(true));
      cuda::event_record(start);
      // the composed op recomputes its softmax in backward (model.attention_recompute), its leanest form
      Tensor out = attention(leaves[0], leaves[1], leaves[2], scale, true, window, 256, /*recompute=*/true);
      backward(out, in[3]);
      cuda::event_record(end);
      cuda::synchronize();
      if (r >= warmup) ms.push_back(cuda::event_elapsed_ms(start, end));
    }
    std::sort(ms.begin(), ms.end());
    const double median = ms[ms.size() / 2];
    // counted work: the causal half of q k^T and P v, forward, times 3.5 (backward: 5 products, one the recomputed q k^T)
    const double visible = window > 0 ? static_cast<double>(std::min(window, L)) * L : 0.5 * L * L;
    const double flops = 3.5 * 2 * 2 * visible * D * B * H;
    const double peak = (cuda::allocator_stats().peak_bytes - before) / 1048576.0;
    auto rounded = [](double v, double per_unit) { return std::round(v * per_unit) / per_unit; };
    const nlohmann::ordered_json row = {{"impl", "ttt.cpp " + impl},
                                        {"dtype", dtype},
                                        {"precision", precision},
                                        {"batch", B},
                                        {"heads", H},
                                        {"len", L},
                                        {"dim", D},
                                        {"window", window},
                                        {"median_ms", rounded(median, 1e3)},
                                        {"tflops", rounded(flops / (median / 1000.0) / 1e12, 100)},
                                        {"peak_mib", rounded(peak, 10)}};
    std::cout << row.dump() << std::endl;
    return 0;
  } catch (const Error& e) {
    std::cerr << "ttt-attention-bench: " << e.what() << "\n";
    return 1;
  }
}
