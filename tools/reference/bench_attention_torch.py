"""PyTorch's attention, forward + backward, beside bench/attention_bench.cpp (same sizes, same
JSON fields): F.scaled_dot_product_attention, causal, optionally a sliding window (then through
an explicit mask: SDPA's flash backend takes no window, so PyTorch falls back to another kernel).

    python3 bench_attention_torch.py --batch 1 --heads 32 --len 3000 --dim 128 [--window 0] [--dtype bf16] [--tf32]

--tf32 lets f32 products use TF32 tensor cores (torch.backends.cuda.matmul.allow_tf32 and cuDNN's).
"""
import argparse
import json
import math

import torch
import torch.nn.functional as F


def main():
    p = argparse.ArgumentParser()
    for name, default in [("batch", 1), ("heads", 32), ("len", 3000), ("dim", 128), ("window", 0), ("reps", 10),
                          ("warmup", 3)]:
        p.add_argument("--" + name, type=int, default=default)
    p.add_argument("--dtype", default="bf16", choices=["bf16", "f32"])
    p.add_argument("--tf32", action="store_true")
    a = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    dt = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    torch.manual_seed(0)
    shape = (a.batch, a.heads, a.len, a.dim)
    q, k, v, g = (torch.randn(shape, device="cuda", dtype=dt) for _ in range(4))
    mask = None
    if a.window > 0:
        i = torch.arange(a.len, device="cuda")
        mask = (i[None, :] <= i[:, None]) & (i[:, None] - i[None, :] < a.window)
    scale = 1.0 / math.sqrt(a.dim)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for r in range(a.warmup + a.reps):
        leaves = [t.detach().requires_grad_(True) for t in (q, k, v)]
        start.record()
        if mask is None:
            out = F.scaled_dot_product_attention(*leaves, is_causal=True, scale=scale)
        else:
            out = F.scaled_dot_product_attention(*leaves, attn_mask=mask, scale=scale)
        out.backward(g)
        end.record()
        torch.cuda.synchronize()
        if r >= a.warmup:
            times.append(start.elapsed_time(end))
    times.sort()
    median = times[len(times) // 2]
    visible = min(a.window, a.len) * a.len if a.window > 0 else 0.5 * a.len * a.len
    flops = 3.5 * 2 * 2 * visible * a.dim * a.batch * a.heads
    peak = (torch.cuda.max_memory_allocated() - before) / 1048576.0
    print(json.dumps({"impl": "torch sdpa" + (" mask" if mask is not None else ""), "dtype": a.dtype,
                      "precision": "tf32" if a.tf32 and a.dtype == "f32" else a.dtype, "batch": a.batch,
                      "heads": a.heads, "len": a.len, "dim": a.dim, "window": a.window, "median_ms": round(median, 3),
                      "tflops": round(flops / (median / 1000.0) / 1e12, 2), "peak_mib": round(peak, 1)}))


if __name__ == "__main__":
    main()
