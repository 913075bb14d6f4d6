// How far TF32 and bf16 matrix products inside the TTT inner scan move its outputs and gradients
// away from the f64 reference over long sequences: the tolerance a tensor-core scan has to meet
// (docs/performance.md, "Tensor-core scans: the error budget").
//   ttt-scan-precision [--mini-batches 32] [--heads 2] [--seed 1] [--fused 0|1]
// (--fused 1: the fused scan's CPU executor with ttt.scan_precision, the tensor-core kernels' reference.)
// For each inner model and mini-batch size, the composed scan (ttt/inner_scan.h) runs on the CPU
// from the same inputs in f64 and in f32 three ways: products exact to f32, operands rounded to
// TF32, operands rounded to bf16 (compute::set_matmul_precision: f32 sums in every case, as tensor
// cores sum). Everything else (LayerNorm, GELU, the step sizes) stays f32. The inputs have the
// statistics the layers give the scan: queries and keys with unit rows (E1a), targets N(0, 1) (the
// output of E2a's LayerNorm), eta[i, j] = ttt_base_lr sigmoid(.) / (d (i + 1)) below the diagonal
// (E4-E7, causal mode), initial inner weights N(0, 0.02) and biases 0 (the layers' init).
// Prints one line per case: the relative RMS error of the output over the first and the last
// quarter of the mini-batches (whether it grows along the sequence), of the final inner state, and
// the largest over the gradients of every input, naming it.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "bench/scan_precision_study.h"

using namespace ttt;
using namespace ttt::scan_precision;

int main(int argc, char** argv) {
  int64_t n = 32, heads = 2;
  uint64_t seed = 1;
  bool fused = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--mini-batches"))
      n = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--heads"))
      heads = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seed"))
      seed = std::strtoull(argv[i + 1], nullptr, 10);
    else if (!std::strcmp(argv[i], "--fused"))
      fused = std::atoi(argv[i + 1]) != 0;
    else {
      std::fprintf(stderr, "ttt-scan-precision: unknown option %s (--mini-batches, --heads, --seed, --fused)\n", argv[i]);
      return 2;
    }
  }
  if (n < 4 || heads < 1) {
    std::fprintf(stderr, "ttt-scan-precision: --mini-batches must be >= 4 and --heads >= 1\n");
    return 2;
  }
  const std::vector<Case> cases = {
      {"TTT-Linear d 64", {64, 64}, 16, 1.0},
      {"TTT-Linear d 64", {64, 64}, 64, 1.0},
      {"TTT-MLP 64-256-64", {64, 256, 64}, 16, 0.1},
      {"TTT-MLP 64-256-64", {64, 256, 64}, 64, 0.1},
      {"TTT-MLP 128-512-128", {128, 512, 128}, 64, 0.1},
      {"TTT-MultiLayer 128-512-512-128", {128, 512, 512, 128}, 64, 0.1},
  };
  std::printf(
      "%s scan, %d mini-batches, %d heads; relative RMS error against f64 (output: first / last quarter of the "
      "mini-batches)\n",
      fused ? "fused" : "composed", static_cast<int>(n), static_cast<int>(heads));
  std::printf("%-32s %4s %-5s %21s %11s %11s  %s\n", "inner model", "b", "prod", "output first / last", "final state",
              "worst grad", "(of)");
  for (const Case& c : cases) {
    const Run ref = run(c, heads, n, seed, DType::f64, MatmulPrecision::f32);
    const int64_t quarter = n / 4;
    for (MatmulPrecision p : {MatmulPrecision::f32, MatmulPrecision::tf32, MatmulPrecision::bf16}) {
      const Run got = run(c, heads, n, seed, DType::f32, p, fused);
      const double first = relative_rms(slice(got.out, 2, 0, quarter), slice(ref.out, 2, 0, quarter));
      const double last = relative_rms(slice(got.out, 2, n - quarter, n), slice(ref.out, 2, n - quarter, n));
      double state = 0, worst = 0;
      for (size_t i = 0; i < ref.state.size(); ++i) state = std::max(state, relative_rms(got.state[i], ref.state[i]));
      char worst_name[16] = "";
      const size_t layers = c.dims.size() - 1;
      for (size_t i = 0; i < ref.grads.size(); ++i) {
        const double e = relative_rms(got.grads[i], ref.grads[i]);
        if (e > worst) {
          worst = e;
          if (i < 6)
            std::snprintf(worst_name, sizeof worst_name, "%s", kLeafNames[i]);
          else
            std::snprintf(worst_name, sizeof worst_name, "%s%d", i < 6 + layers ? "W" : "b",
                          static_cast<int>((i - 6) % layers + 1));
        }
      }
      const char* name = p == MatmulPrecision::f32 ? "f32" : p == MatmulPrecision::tf32 ? "tf32" : "bf16";
      std::printf("%-32s %4d %-5s %10.2e / %8.2e %11.2e %11.2e  %s\n", c.name, static_cast<int>(c.b), name, first, last, state,
                  worst, worst_name);
      std::fflush(stdout);
    }
  }
  return 0;
}
