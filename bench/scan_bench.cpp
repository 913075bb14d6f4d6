// The fused TTT scan alone (no projections, no LayerNorm of the layer around it): one forward and
// backward, as fla's chunk_ttt_linear is timed (tools/reference/bench_fla_scan.py prints the same
// JSON line for it; bench/run_scan_bench.sh puts them side by side).
//   ttt-scan-bench --variant linear|mlp|multilayer --batch 4 --heads 16 --len 2048 --head-dim 64
//                  --mini-batch 16 --precision f32|tf32|bf16 [--ckpt 0] [--reps 20] [--warmup 5] [--cluster 0|1|2|4]
// (mlp: hidden 4 x head dim; multilayer: two hidden layers of 4 x head dim.) The inputs have the
// statistics the layers give the scan (bench/scan_precision_study.h); the backward starts from a
// random output gradient. Time: the median over reps of CUDA events around forward + backward.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/scan_precision_study.h"
#include "core/backend.h"
#include "train/cli.h"
#include "ttt/kernels/scan_kernels.h"

using namespace ttt;

int main(int argc, char** argv) {
  std::string variant = "linear", precision_name = "f32";
  int64_t B = 4, H = 16, L = 2048, d = 64, b = 16, ckpt = 0, reps = 20, warmup = 5;
  int cluster = 0;
  try {
    TTT_CHECK(argc % 2 == 1, "options", "every option takes a value (--name value)");
    for (int i = 1; i + 1 < argc; i += 2) {
      const std::string a = argv[i], v = argv[i + 1];
      if (a == "--variant")
        variant = v;
      else if (a == "--precision")
        precision_name = v;
      else if (a == "--batch")
        B = cli::parse_int(a, v, 1, 1 << 16);
      else if (a == "--heads")
        H = cli::parse_int(a, v, 1, 1 << 12);
      else if (a == "--len")
        L = cli::parse_int(a, v, 1, 1 << 24);
      else if (a == "--head-dim")
        d = cli::parse_int(a, v, 1, 1024);
      else if (a == "--mini-batch")
        b = cli::parse_int(a, v, 1, 1 << 16);
      else if (a == "--ckpt")
        ckpt = cli::parse_int(a, v, 0, 1 << 16);
      else if (a == "--reps")
        reps = cli::parse_int(a, v, 1, 1000);
      else if (a == "--warmup")
        warmup = cli::parse_int(a, v, 0, 1000);
      else if (a == "--cluster")
        cluster = static_cast<int>(cli::parse_int(a, v, 0, 4));
      else
        fail(a,
             "unknown option (--variant, --batch, --heads, --len, --head-dim, --mini-batch, --precision, --ckpt, --reps, "
             "--warmup, --cluster)");
    }
    const MatmulPrecision precision = parse_enum<MatmulPrecision>(precision_name);
    std::vector<int64_t> dims = {d, d};
    if (variant == "mlp")
      dims = {d, 4 * d, d};
    else if (variant == "multilayer")
      dims = {d, 4 * d, 4 * d, d};
    else if (variant != "linear")
      fail("--variant", "'" + variant + "' is not one of linear, mlp, multilayer");
    TTT_CHECK(L % b == 0, "--len", L, " must be a multiple of --mini-batch ", b);
    scan::set_cuda_blocks_per_sequence(cluster);
    const Device device = Device::cuda(0);
    // B x H sequences: the scan sees the batch's heads as one list
    const scan_precision::Case c{variant.c_str(), dims, b, variant == "linear" ? 1.0 : 0.1};
    const ScanInputs in = scan_precision::make_inputs(c, B * H, L / b, 1, DType::f32, device);
    std::vector<Tensor> leaves = {in.xq, in.xk, in.target, in.eta, in.ln_weight, in.ln_bias};
    leaves.insert(leaves.end(), in.weights.begin(), in.weights.end());
    leaves.insert(leaves.end(), in.biases.begin(), in.biases.end());
    Generator gen(2);
    const Tensor dout = to_device(randn(in.xq.shape(), gen), device);
    ScanOptions options;
    options.precision = precision;
    options.checkpoint_group = ckpt;
    void* start = cuda::event_create();
    void* end = cuda::event_create();
    std::vector<double> ms;
    for (int64_t r = 0; r < warmup + reps; ++r) {
      cuda::synchronize();
      cuda::event_record(start);
      ScanOutputs o = fused_scan(in, options);
      backward(o.out, dout);
      cuda::event_record(end);
      cuda::synchronize();
      if (r >= warmup) ms.push_back(cuda::event_elapsed_ms(start, end));
      zero_grad(leaves);
    }
    std::sort(ms.begin(), ms.end());
    const nlohmann::ordered_json row = {{"impl", "ttt.cpp fused scan"},
                                        {"variant", variant},
                                        {"precision", precision_name},
                                        {"batch", B},
                                        {"heads", H},
                                        {"len", L},
                                        {"head_dim", d},
                                        {"mini_batch", b},
                                        {"ckpt", ckpt},
                                        {"median_ms", std::round(ms[ms.size() / 2] * 1000) / 1000}};
    std::printf("%s\n", row.dump().c_str());
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "ttt-scan-bench: %s\n", e.what());
    return 1;
  }
}
