#!/usr/bin/env python3
"""The anchor for the fused scan's speed: fla's TTT-Linear inner scan (flash-linear-attention's
chunk_ttt_linear, Triton) timed as bench/scan_bench.cpp times ours, forward + backward with no
projections around it, printing one JSON line in ttt-scan-bench's format.

  bench_fla_scan.py --batch 4 --heads 16 --len 2048 --head-dim 64 --chunk 16 --precision tf32|bf16

tf32: f32 inputs (fla's dots then take TF32 operands); bf16: bf16 inputs. fla's scan is TTT-Linear
only, and its step size is one number per token (ours: a [b, b] matrix per mini-batch); the
shapes of the work match. Needs the fla-core wheel (docs/performance.md says how to carry it).
"""
import argparse
import json
import statistics

import torch
import torch.nn.functional as F
from fla.ops.ttt import chunk_ttt_linear


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--len", type=int, default=2048)
    p.add_argument("--head-dim", type=int, default=64)
    p.add_argument("--chunk", type=int, default=16)
    p.add_argument("--precision", choices=["tf32", "bf16"], default="tf32")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    a = p.parse_args()
    dtype = torch.float32 if a.precision == "tf32" else torch.bfloat16
    B, T, H, K = a.batch, a.len, a.heads, a.head_dim
    g = torch.Generator(device="cuda").manual_seed(0)

    def leaf(t):
        return t.to(dtype).requires_grad_()

    randn = lambda *shape: torch.randn(*shape, device="cuda", generator=g)
    q = leaf(F.normalize(randn(B, T, H, K), dim=-1))
    k = leaf(F.normalize(randn(B, T, H, K), dim=-1))
    v = leaf(randn(B, T, H, K))
    w = leaf(1 + 0.02 * randn(H, K))
    b = leaf(0.02 * randn(H, K))
    eta = leaf(torch.sigmoid(randn(B, T, H, 1)) / K)
    h0 = leaf(0.02 * randn(B, H, K, K))
    hb0 = leaf(torch.zeros(B, H, 1, K, device="cuda"))
    do = randn(B, T, H, K).to(dtype)
    times = []
    for r in range(a.warmup + a.reps):
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        o, _, _ = chunk_ttt_linear(q, k, v, w, b, eta, chunk_size=a.chunk, initial_state=h0, initial_state_bias=hb0)
        o.backward(do)
        end.record()
        torch.cuda.synchronize()
        if r >= a.warmup:
            times.append(start.elapsed_time(end))
        for t in (q, k, v, w, b, eta, h0, hb0):
            t.grad = None
    print(json.dumps({"impl": "fla chunk_ttt_linear", "variant": "linear", "precision": a.precision, "batch": B,
                      "heads": H, "len": T, "head_dim": K, "mini_batch": a.chunk, "ckpt": 0,
                      "median_ms": round(statistics.median(times), 3)}))


if __name__ == "__main__":
    main()
