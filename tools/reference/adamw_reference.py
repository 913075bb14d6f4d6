#!/usr/bin/env python3
"""Writes tests/fixtures/adamw_trajectory.safetensors: torch.optim.AdamW with torch's OneCycleLR
on a small problem with fixed gradients, so that tests/nn/test_optim.cpp can follow the same
trajectory with ttt.cpp's AdamW and schedule.

Two parameter groups: "w" [4, 3] with weight decay 0.1 and max lr 0.01, "b" [3] with no weight
decay and twice the learning rate (ttt.cpp: a group rule with weight_decay 0 and lr_scale 2).
betas (0.9, 0.95), eps 1e-8, 6 steps, OneCycleLR(pct_start=0.3, div_factor=25, final_div_factor=1e4).

Stored: w.init, b.init, grad_w.K, grad_b.K (the gradient fed at step K), w.K, b.K (the values
after step K), lr.K (group 0's learning rate used at step K), for K = 0..5.

Run where torch is installed (the GPU machine has it):  python3 tools/reference/adamw_reference.py OUT
"""
import sys

import torch
from safetensors.torch import save_file

STEPS = 6


def main(out):
    g = torch.Generator().manual_seed(7)
    w = torch.randn(4, 3, generator=g, dtype=torch.float32).requires_grad_()
    b = torch.randn(3, generator=g, dtype=torch.float32).requires_grad_()
    tensors = {"w.init": w.detach().clone(), "b.init": b.detach().clone()}
    opt = torch.optim.AdamW(
        [{"params": [w], "weight_decay": 0.1}, {"params": [b], "weight_decay": 0.0}],
        lr=0.01, betas=(0.9, 0.95), eps=1e-8, foreach=False,
    )
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=[0.01, 0.02], total_steps=STEPS, pct_start=0.3, div_factor=25.0, final_div_factor=1e4,
        cycle_momentum=False,
    )
    for k in range(STEPS):
        gw = torch.randn(4, 3, generator=g)
        gb = torch.randn(3, generator=g)
        w.grad, b.grad = gw.clone(), gb.clone()
        tensors[f"lr.{k}"] = torch.tensor([opt.param_groups[0]["lr"]], dtype=torch.float64)
        opt.step()
        sched.step()
        tensors[f"grad_w.{k}"], tensors[f"grad_b.{k}"] = gw, gb
        tensors[f"w.{k}"], tensors[f"b.{k}"] = w.detach().clone(), b.detach().clone()
    save_file(tensors, out, metadata={"generator": "tools/reference/adamw_reference.py", "torch": torch.__version__})
    print("wrote", out, "with torch", torch.__version__)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/adamw_trajectory.safetensors")
