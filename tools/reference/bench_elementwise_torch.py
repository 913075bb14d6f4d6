"""PyTorch's elementwise kernels beside bench/elementwise_bench.cpp: the same cases (the Moshi 7B
TTT branches' shapes, a bf16 residual add and attention's permute), the same JSON fields.

    python3 bench_elementwise_torch.py [--reps 200]
"""
import argparse
import json

import torch


def cases():
    f32, bf16 = torch.float32, torch.bfloat16
    return [
        ("add activations", [(1, 32, 64, 512), (1, 32, 64, 512)], f32, lambda x: x[0] + x[1]),
        ("add inner weights", [(1, 32, 512, 512), (1, 32, 512, 512)], f32, lambda x: x[0] + x[1]),
        ("add bias", [(1, 32, 64, 512), (1, 32, 1, 512)], f32, lambda x: x[0] + x[1]),
        ("mul column", [(1, 32, 64, 1), (1, 32, 64, 512)], f32, lambda x: x[0] * x[1]),
        ("gelu", [(1, 32, 64, 512)], f32, lambda x: torch.nn.functional.gelu(x[0], approximate="tanh")),
        ("sum to bias", [(1, 32, 64, 512)], f32, lambda x: x[0].sum(dim=2, keepdim=True)),
        ("add bf16 residual", [(2048, 4096), (2048, 4096)], bf16, lambda x: x[0] + x[1]),
        ("permute bf16 heads first", [(2048, 32, 128)], bf16, lambda x: x[0].permute(1, 0, 2).contiguous()),
    ]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--reps", type=int, default=200)
    a = p.parse_args()
    torch.manual_seed(0)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for name, shapes, dt, op in cases():
        x = [torch.randn(s, device="cuda", dtype=dt) for s in shapes]
        out = op(x)
        nbytes = sum(t.numel() * t.element_size() for t in x) + out.numel() * out.element_size()
        torch.cuda.synchronize()
        start.record()
        for _ in range(a.reps):
            out = op(x)
        end.record()
        torch.cuda.synchronize()
        us = start.elapsed_time(end) * 1000.0 / a.reps
        print(json.dumps({"impl": "pytorch", "case": name, "us": round(us, 2), "gb_per_s": round(nbytes / (us * 1e-6) / 1e9)}))


if __name__ == "__main__":
    main()
