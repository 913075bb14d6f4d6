// TTT layer forward+backward benchmark: one JSON line per run, for bench/run_ttt_bench.sh to put
// side by side with tools/reference/bench_ttt_torch.py (same layer, same sizes, same precision).
//   ttt-layer-bench --variant mlp --batch 4 --len 2048 --width 1024 --heads 16 --mini-batch 64
//                   [--reps 10] [--warmup 3] [--device cuda|cpu] [--ckpt K] [--kernel 0|1] [--cluster 0|1|2|4] [--shared-barriers
//                   0|1] [--rotate-tiles 0|1] [--precision f32|tf32|bf16]
// (--precision: the projections' products (compute::set_matmul_precision) and the fused scan's
// (ttt.scan_precision; the composed scan's follow the former); f32 by default.)
// (--cluster: the fused kernel's blocks per sequence; 0, the default, picks 2 when they fit.
// --shared-barriers 0: one barrier per step instead of one per group of independent steps, the
// default; scan::set_cuda_shared_barriers.)
// Time: median over reps of one forward+backward, the device synchronised before and after, timed
// by CUDA events around the pass on a GPU (the host clock on the CPU).
// FLOPs: the matrix products counted from the shapes (projections and the inner loop, forward),
// times 3 for forward + backward.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "core/allocator.h"
#include "core/backend.h"
#include "core/compute.h"
#include "core/error.h"
#include "train/cli.h"
#include "ttt/kernels/scan_kernels.h"
#include "ttt/ttt_variants.h"

using namespace ttt;

namespace {

// Forward matmul FLOPs of one layer call (docs/spec/TTT_SPEC.md sections 1 and 4).
double forward_flops(const TTTConfig& c, int64_t B, int64_t L) {
  const double C = static_cast<double>(c.width), H = static_cast<double>(c.heads), b = static_cast<double>(c.mini_batch_size);
  const double n = std::ceil(static_cast<double>(L) / b), tokens = static_cast<double>(B) * n * b;
  double f = 4 * 2 * tokens * C * C;  // Q, K, V, O
  const auto dims = c.inner_dims();
  for (size_t l = 0; l + 1 < dims.size(); ++l) {
    const double di = static_cast<double>(dims[l]), dn = static_cast<double>(dims[l + 1]);
    double per_mb = 2 * b * di * dn;                              // key path
    if (l > 0) per_mb += 2 * b * dn * di;                         // inner backward into layer l (E11)
    per_mb += 2 * b * b * di + 2 * b * di * dn + 4 * b * b * dn;  // E13: Xbar X^T, Xbar W, attn G, eta G
    per_mb += 2 * b * di * dn + 2 * b * dn;                       // E15
    f += per_mb * static_cast<double>(B) * H * n;
  }
  return f;
}

}  // namespace

int run(int argc, char** argv) {
  TTTConfig c;
  c.width = 1024;
  c.heads = 16;
  c.mini_batch_size = 64;
  c.ttt_base_lr = 0.1;
  int64_t B = 4, L = 2048, reps = 10, warmup = 3;
  int cluster = 0;
  int shared_barriers = -1;  // -1: the default (scan::cuda_shared_barriers)
  int rotate_tiles = -1;     // -1: the default (scan::cuda_rotate_tiles)
  std::string device_name = "cuda";
  MatmulPrecision precision = MatmulPrecision::f32;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--variant")
      c.variant = ttt::parse_enum<ttt::TTTVariant>(v);
    else if (a == "--batch")
      B = cli::parse_int(a, v, 1, 1 << 16);
    else if (a == "--len")
      L = cli::parse_int(a, v, 1, 1 << 24);
    else if (a == "--width")
      c.width = cli::parse_int(a, v, 1, 1 << 16);
    else if (a == "--heads")
      c.heads = cli::parse_int(a, v, 1, 1 << 12);
    else if (a == "--mini-batch")
      c.mini_batch_size = cli::parse_int(a, v, 1, 1 << 16);
    else if (a == "--reps")
      reps = cli::parse_int(a, v, 1, 1000);
    else if (a == "--warmup")
      warmup = cli::parse_int(a, v, 0, 1000);
    else if (a == "--device")
      device_name = v;
    else if (a == "--ckpt")
      c.scan_checkpoint_group = cli::parse_int(a, v, 0, 1 << 16);
    else if (a == "--kernel")
      c.use_kernel = v == "1";
    else if (a == "--cluster")
      cluster = static_cast<int>(cli::parse_int(a, v, 0, 4));
    else if (a == "--shared-barriers")
      shared_barriers = v == "1" ? 1 : 0;
    else if (a == "--rotate-tiles")
      rotate_tiles = v == "1" ? 1 : 0;
    else if (a == "--precision")
      precision = ttt::parse_enum<MatmulPrecision>(v);
    else {
      std::cerr << "unknown argument " << a << "\n";
      return 2;
    }
  }
  if (c.variant == ttt::TTTVariant::multilayer) c.mlp_dims = {c.head_dim(), 4 * c.head_dim(), 4 * c.head_dim(), c.head_dim()};
  try {
    scan::set_cuda_blocks_per_sequence(cluster);
    if (shared_barriers >= 0) scan::set_cuda_shared_barriers(shared_barriers == 1);
    if (rotate_tiles >= 0) scan::set_cuda_rotate_tiles(rotate_tiles == 1);
    compute::set_matmul_precision(precision);
    if (c.use_kernel) c.scan_precision = precision;
    const Device device = Device::parse(device_name);
    Generator gen(0);
    auto layer = make_ttt(c, gen, Device::cpu());
    layer->to(device);
    Tensor x = to_device(randn({B, L, c.width}, gen), device).set_requires_grad(true);
    Tensor dy = to_device(randn({B, L, c.width}, gen), device);
    auto sync = [&] {
      if (device.is_cuda()) cuda::synchronize();
    };
    std::vector<double> ms, forward_ms;
    if (device.is_cuda()) cuda::reset_peak_memory();
    // On a GPU the pass is timed by CUDA events before, between (forward | backward) and after it;
    // on the CPU by the host clock.
    void* start_event = device.is_cuda() ? cuda::event_create() : nullptr;
    void* mid_event = device.is_cuda() ? cuda::event_create() : nullptr;
    void* end_event = device.is_cuda() ? cuda::event_create() : nullptr;
    auto host_ms = [](auto from) {
      return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - from).count();
    };
    for (int64_t r = 0; r < warmup + reps; ++r) {
      sync();
      auto t0 = std::chrono::steady_clock::now();
      if (start_event) cuda::event_record(start_event);
      Tensor y = layer->forward(x);
      if (mid_event) cuda::event_record(mid_event);
      const double host_forward = host_ms(t0);
      backward(y, dy);
      if (end_event) cuda::event_record(end_event);
      sync();
      if (r >= warmup) {
        ms.push_back(end_event ? cuda::event_elapsed_ms(start_event, end_event) : host_ms(t0));
        forward_ms.push_back(mid_event ? cuda::event_elapsed_ms(start_event, mid_event) : host_forward);
      }
      zero_grad(layer->parameters());
      zero_grad({x});
    }
    std::sort(ms.begin(), ms.end());
    std::sort(forward_ms.begin(), forward_ms.end());
    const double median = ms[ms.size() / 2], forward_median = forward_ms[forward_ms.size() / 2];
    const double flops = 3 * forward_flops(c, B, L);
    const double peak = device.is_cuda() ? cuda::allocator_stats().peak_bytes / 1048576.0 : 0.0;
    auto rounded = [](double v, double per_unit) { return std::round(v * per_unit) / per_unit; };  // 1000: 3 decimals
    const char* impl = c.use_kernel ? (rotate_tiles == 0      ? "ttt.cpp kernel unrotated tiles"
                                       : shared_barriers == 0 ? "ttt.cpp kernel per-step barriers"
                                       : cluster == 1         ? "ttt.cpp kernel 1 block"
                                       : cluster == 2         ? "ttt.cpp kernel cluster2"
                                                              : "ttt.cpp kernel")
                                    : "ttt.cpp composed";
    const nlohmann::ordered_json row = {{"impl", impl},
                                        {"variant", ttt::enum_name(c.variant)},
                                        {"batch", B},
                                        {"len", L},
                                        {"width", c.width},
                                        {"heads", c.heads},
                                        {"mini_batch", c.mini_batch_size},
                                        {"precision", ttt::enum_name(precision)},
                                        {"ckpt", c.scan_checkpoint_group},
                                        {"device", device.str()},
                                        {"median_ms", rounded(median, 1e3)},
                                        {"forward_ms", rounded(forward_median, 1e3)},
                                        {"tokens_per_s", rounded(static_cast<double>(B * L) / (median / 1000.0), 10)},
                                        {"gflop", rounded(flops / 1e9, 100)},
                                        {"tflops", rounded(flops / (median / 1000.0) / 1e12, 1e3)},
                                        {"peak_mib", rounded(peak, 10)}};
    std::cout << row.dump() << std::endl;
    return 0;
  } catch (const Error& e) {
    std::cerr << "ttt-layer-bench: " << e.what() << "\n";
    return 1;
  }
}

// A bad option value (an unknown variant or precision, a number that is not one) ends with its
// message instead of an abort.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "ttt-layer-bench: " << e.what() << "\n";
    return 2;
  }
}
