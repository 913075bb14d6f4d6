#!/usr/bin/env python3
"""The PyTorch side of the TTT layer benchmark: ttt_torch_dual.py's layer (eager, or
torch.compile with --compile) at the same sizes and precision as bench/ttt_layer_bench.cpp
(--precision f32: TF32 off; tf32: every matrix product in TF32, as ttt-layer-bench --precision
tf32 runs the projections and the fused scan's products), printing one JSON line in the same format.

  bench_ttt_torch.py --variant mlp --batch 4 --len 2048 --width 1024 --heads 16 --mini-batch 64 [--compile] [--precision tf32]
"""
import argparse
import json
import statistics
import time

import torch

from ttt_reference import param_shapes
import ttt_torch_dual
from ttt_torch_dual import ttt_layer_dual


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--variant", default="mlp")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--len", type=int, default=2048)
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--mini-batch", type=int, default=64)
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--device", default="cuda")
    p.add_argument("--compile", action="store_true")
    # the mini-batch step alone compiled (one small graph, compiled once), the layer's loop and
    # projections eager: what finishes compiling at mini-batch 16, where --compile unrolls 128 steps
    p.add_argument("--compile-step", action="store_true")
    p.add_argument("--precision", choices=["f32", "tf32"], default="f32")
    a = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = a.precision == "tf32"
    torch.backends.cudnn.allow_tf32 = a.precision == "tf32"
    d = a.width // a.heads
    cfg = dict(variant=a.variant, width=a.width, heads=a.heads, mini_batch_size=a.mini_batch, ttt_base_lr=0.1)
    if a.variant == "multilayer":
        cfg["mlp_dims"] = [d, 4 * d, 4 * d, d]
    g = torch.Generator().manual_seed(0)
    params = {k: (0.02 * torch.randn(s, generator=g)).to(a.device).requires_grad_() for k, s in param_shapes(cfg).items()}
    x = torch.randn(a.batch, a.len, a.width, generator=g).to(a.device).requires_grad_()
    dy = torch.randn(a.batch, a.len, a.width, generator=g).to(a.device)
    fn = torch.compile(ttt_layer_dual) if a.compile else ttt_layer_dual
    if a.compile_step:
        ttt_torch_dual.minibatch_step = torch.compile(ttt_torch_dual._minibatch_step)
    sync = torch.cuda.synchronize if a.device.startswith("cuda") else (lambda: None)
    if a.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    times, forward_times = [], []
    cuda = a.device.startswith("cuda")
    for r in range(a.warmup + a.reps):
        sync()
        t0 = time.perf_counter()
        if cuda:  # the pass is timed by CUDA events (before, between forward and backward, after), as ttt-layer-bench does
            start, mid, end = (torch.cuda.Event(enable_timing=True) for _ in range(3))
            start.record()
        y = fn(params, x, cfg)
        if cuda:
            mid.record()
        host_forward = (time.perf_counter() - t0) * 1000
        y.backward(dy)
        if cuda:
            end.record()
        sync()
        if r >= a.warmup:
            times.append(start.elapsed_time(end) if cuda else (time.perf_counter() - t0) * 1000)
            forward_times.append(start.elapsed_time(mid) if cuda else host_forward)
        for t in list(params.values()) + [x]:
            t.grad = None
    median = statistics.median(times)
    peak = torch.cuda.max_memory_allocated() / 2**20 if a.device.startswith("cuda") else 0.0
    print(json.dumps({"impl": "torch.compile" if a.compile else "torch.compile step" if a.compile_step else "torch eager", "variant": a.variant, "batch": a.batch,
                      "len": a.len, "width": a.width, "heads": a.heads, "mini_batch": a.mini_batch,
                      "precision": a.precision, "device": a.device, "median_ms": round(median, 3),
                      "forward_ms": round(statistics.median(forward_times), 3),
                      "tokens_per_s": round(a.batch * a.len / (median / 1000), 1), "peak_mib": round(peak, 1)}))


if __name__ == "__main__":
    main()
