#!/usr/bin/env python3
"""The device's measured matrix-product ceiling, to state what fraction of it the TTT kernels and
the training step reach (docs/performance.md): cuBLAS (through PyTorch, the library ttt.cpp calls too) on
large square products, f32 with TF32 off (CUDA cores) and with TF32 on (tensor cores), timed with
CUDA events, median of 10 after warm-up. Prints one JSON line per precision.

  gemm_ceiling.py [--size 8192]
"""
import argparse
import json
import statistics

import torch


def measure(n, tf32):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    g = torch.Generator(device="cuda").manual_seed(0)
    a = torch.randn(n, n, device="cuda", generator=g)
    b = torch.randn(n, n, device="cuda", generator=g)
    times = []
    for r in range(13):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        torch.mm(a, b)
        end.record()
        torch.cuda.synchronize()
        if r >= 3:
            times.append(start.elapsed_time(end))
    ms = statistics.median(times)
    return {"impl": "cuBLAS " + ("tf32" if tf32 else "f32"), "size": n, "median_ms": round(ms, 3),
            "tflops": round(2 * n ** 3 / (ms / 1000) / 1e12, 1), "device": torch.cuda.get_device_name()}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=8192)
    a = p.parse_args()
    for tf32 in (False, True):
        print(json.dumps(measure(a.size, tf32)))


if __name__ == "__main__":
    main()
