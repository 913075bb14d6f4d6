#!/usr/bin/env python3
"""The PyTorch side of the training-step benchmark: hybrid_torch.py's model with the sizes of
configs/small_gpu.yaml (below; keep them in step with the YAML), one training step = loss
forward + backward + global-norm clipping + AdamW (fused), f32 with TF32 off, random tokens.
Prints one JSON line: median step time, tokens/s, peak memory.

  bench_model_torch.py [--steps 10] [--warmup 3] [--compile | --compile-layers] [--sdpa] [--profile] [--device cuda] [--tiny]
(--tiny: a small model for a quick check on the CPU; --sdpa: attention through
F.scaled_dot_product_attention instead of the explicit softmax; --profile: print torch.profiler's
table of the kernels of the timed steps to stderr.)
"""
import argparse
import json
import statistics
import time

import torch

import hybrid_torch
from hybrid_torch import hidden, is_hybrid, vocabs

# configs/small_gpu.yaml
SMALL_GPU = dict(model=dict(width=768, num_layers=12, num_heads=12, hybrid_layers=[2, 5, 8, 11], text_vocab=1024,
                            causal=True),
                 ttt=dict(variant="mlp", heads=12, mlp_expansion=4, mini_batch_size=64, ttt_base_lr=0.1),
                 batch=4, seq=2048, lr=1e-3, weight_decay=0.1, max_norm=1.0)
TINY = dict(model=dict(width=64, num_layers=2, num_heads=4, hybrid_layers=[1], text_vocab=64, causal=True),
            ttt=dict(variant="mlp", heads=4, mlp_expansion=4, mini_batch_size=16, ttt_base_lr=0.1),
            batch=2, seq=64, lr=1e-3, weight_decay=0.1, max_norm=1.0)


def ttt_forward_flops(t, tokens):
    """Matrix-product FLOPs of one TTT layer's forward over `tokens` (a multiple of the mini-batch):
    the same count as bench/ttt_layer_bench.cpp's forward_flops."""
    C, H, b = t["width"], t["heads"], t["mini_batch_size"]
    d = C // H
    dims = {"linear": [d, d], "mlp": [d, t.get("mlp_expansion", 4) * d, d]}.get(t["variant"]) or t["mlp_dims"]
    f = 4 * 2 * tokens * C * C  # Q, K, V, O
    minibatches = tokens // b * H
    for l in range(len(dims) - 1):
        di, dn = dims[l], dims[l + 1]
        per_mb = 2 * b * di * dn + (2 * b * dn * di if l > 0 else 0)
        per_mb += 2 * b * b * di + 2 * b * di * dn + 4 * b * b * dn + 2 * b * di * dn + 2 * b * dn
        f += per_mb * minibatches
    return f


def step_flops(c, B, S):
    """Matrix-product FLOPs of one training step (forward x 3) of hybrid_torch's model: attention
    (projections and the full [S, S] products, as both implementations compute them), SwiGLU, the
    TTT layers, the output heads. Elementwise work is not counted."""
    C, H, N, h = c["width"], c["num_heads"], B * S, hidden(c)
    per_layer = 2 * N * C * 3 * C + 2 * N * C * C + 2 * 2 * B * H * S * S * (C // H) + 2 * N * C * 2 * h + 2 * N * h * C
    f = c["num_layers"] * per_layer + sum(2 * N * C * v for v in vocabs(c))
    b = c["ttt"]["mini_batch_size"]
    tokens = B * ((S + b - 1) // b) * b
    f += sum(ttt_forward_flops(c["ttt"], tokens) for l in range(c["num_layers"]) if is_hybrid(c, l))
    return 3 * f


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--device", default="cuda")
    p.add_argument("--compile", action="store_true", help="torch.compile the whole loss")
    p.add_argument("--compile-layers", action="store_true",
                   help="torch.compile each layer (two kinds: compiled once each, much faster to compile)")
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--sdpa", action="store_true")
    p.add_argument("--tf32", action="store_true", help="allow TF32 tensor cores (ttt-train: run.matmul_precision=tf32)")
    p.add_argument("--bf16-matmul", action="store_true",
                   help="f32 products with bf16 internals, torch.set_float32_matmul_precision('medium') "
                        "(ttt-train: run.matmul_precision=bf16)")
    p.add_argument("--autocast-bf16", action="store_true",
                   help="the forward and loss under torch.autocast(bfloat16): bf16 products (the TTT inner loop's "
                        "too), f32 weights (ttt-train: run.activations=bf16, whose TTT layers stay f32)")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--ddp", action="store_true",
                   help="DistributedDataParallel over the GPUs torchrun starts (torchrun --nproc-per-node N ...): "
                        "the batch is per GPU, tokens/s counts all of them (ttt-train: run.devices)")
    a = p.parse_args()
    rank, world = 0, 1
    if a.ddp:
        import os
        import torch.distributed as dist
        dist.init_process_group("nccl")
        rank, world = dist.get_rank(), dist.get_world_size()
        a.device = f"cuda:{int(os.environ.get('LOCAL_RANK', rank))}"
        torch.cuda.set_device(a.device)
    hybrid_torch.USE_SDPA = a.sdpa
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    if a.bf16_matmul:
        torch.set_float32_matmul_precision("medium")
    spec = TINY if a.tiny else SMALL_GPU
    c = hybrid_torch.model_defaults(dict(spec["model"], ttt=spec["ttt"]))
    g = torch.Generator().manual_seed(0)
    params = hybrid_torch.init_params(c, g, torch.float32, a.device)
    for t in params.values():
        t.requires_grad_()
    fused = a.device.startswith("cuda")
    loss_of = hybrid_torch.loss
    if a.ddp:  # DDP wants a Module: the same parameters in one, the same loss through it
        class Twin(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.p = torch.nn.ParameterDict({k.replace(".", "__"): torch.nn.Parameter(v.detach()) for k, v in params.items()})

            def forward(self, inputs, targets):
                return hybrid_torch.loss({k.replace("__", "."): v for k, v in self.p.items()}, inputs, targets, c)

        ddp = torch.nn.parallel.DistributedDataParallel(Twin())
        params = dict(ddp.module.p.items())
        loss_of = lambda _p, inputs, targets, _c: ddp(inputs, targets)  # noqa: E731
        g = torch.Generator().manual_seed(1000 + rank)  # each rank its own rows
    opt = torch.optim.AdamW(list(params.values()), lr=spec["lr"], weight_decay=spec["weight_decay"], fused=fused)
    B, S, V = spec["batch"], spec["seq"], c["text_vocab"]
    loss_fn = torch.compile(loss_of) if a.compile else loss_of
    if a.compile_layers:
        hybrid_torch.run_block = torch.compile(hybrid_torch.block)
    sync = torch.cuda.synchronize if a.device.startswith("cuda") else (lambda: None)
    if a.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    times, losses = [], []
    prof = None
    for step in range(a.warmup + a.steps):
        if a.profile and step == a.warmup:
            prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU,
                                                      torch.profiler.ProfilerActivity.CUDA])
            prof.__enter__()
        tokens = torch.randint(0, V, (B, S + 1, 1), generator=g).to(a.device)
        sync()
        t0 = time.perf_counter()
        with torch.autocast(device_type="cuda" if fused else "cpu", dtype=torch.bfloat16, enabled=a.autocast_bf16):
            loss = loss_fn(params, tokens[:, :-1], tokens[:, 1:], c)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(params.values()), spec["max_norm"])
        opt.step()
        sync()
        if step >= a.warmup:
            times.append((time.perf_counter() - t0) * 1000)
        losses.append(loss.item())
    if prof is not None:
        prof.__exit__(None, None, None)
        import sys
        print(prof.key_averages().table(sort_by="self_device_time_total", row_limit=30), file=sys.stderr)
    median = statistics.median(times)
    peak = torch.cuda.max_memory_allocated() / 2**20 if a.device.startswith("cuda") else 0.0
    if rank != 0:
        return
    impl = ("DDP x%d " % world if a.ddp else "") + ("torch.compile" if a.compile else "torch.compile per layer" if a.compile_layers else "torch eager") + \
        (" sdpa" if a.sdpa else "") + (" tf32" if a.tf32 else "") + (" bf16 matmul" if a.bf16_matmul else "") + \
        (" autocast bf16" if a.autocast_bf16 else "")
    print(json.dumps({"impl": impl, "config": "tiny" if a.tiny else "small_gpu",
                      "device": a.device, "step_ms": round(median, 2), "tokens_per_s": round(world * B * S / (median / 1000), 1),
                      "peak_mib": round(peak, 1), "last_loss": round(losses[-1], 4),
                      "gflop_per_step": round(step_flops(c, B, S) / 1e9, 1),
                      "tflops": round(step_flops(c, B, S) / (median / 1000) / 1e12, 2),
                      "params": sum(t.numel() for t in params.values())}))


if __name__ == "__main__":
    main()
