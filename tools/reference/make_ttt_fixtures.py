#!/usr/bin/env python3
"""Writes tests/fixtures/ttt_<name>.safetensors from the independent reference (ttt_reference.py).

Each file holds, for one small config:
  metadata "config"       the layer config as YAML (what ttt-probe reads), plus "batch", "length",
                          "valid_length"
  param.<name>  (F32)     every parameter, by its ttt.cpp / spec name
  input.x, input.dy (F32) the layer input [B, L, C] and an upstream gradient of the output
  expect.y      (F64)     the output, computed in float64 from the F32 values above
  expect.grad.x (F64)     d(sum(y * dy)) / dx
  expect.grad.<name> (F64) the same for every parameter
Run:  python3 tools/reference/make_ttt_fixtures.py [OUT_DIR]   (needs torch and safetensors)
"""
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ttt_reference import param_shapes, ttt_layer  # noqa: E402

CONFIGS = {
    "linear_causal": dict(variant="linear", width=16, heads=2, mini_batch_size=4, ttt_base_lr=1.0,
                          batch=2, length=12),
    "mlp_causal_padded": dict(variant="mlp", width=16, heads=4, mlp_expansion=4, mini_batch_size=4,
                              ttt_base_lr=0.1, rope_positions="minibatch", lr_gate="full_width",
                              batch=2, length=10),
    "mlp_full_plain": dict(variant="mlp", width=8, heads=2, mlp_expansion=2, mini_batch_size=2,
                           ttt_base_lr=0.5, minibatch_mode="full", qk_l2_norm=False, target_norm=False,
                           rope_positions="none", batch=1, length=8),
    "multilayer_full": dict(variant="multilayer", width=16, heads=2, mlp_dims=[8, 16, 12, 8],
                            mini_batch_size=4, ttt_base_lr=0.3, minibatch_mode="full", batch=2, length=8),
    "multilayer_causal_ckpt": dict(variant="multilayer", width=16, heads=2, mlp_dims=[8, 24, 8],
                                   mini_batch_size=2, ttt_base_lr=0.3, scan_checkpoint_group=2,
                                   batch=1, length=9, valid_length=7),
}
RUN_KEYS = ("batch", "length", "valid_length")


def to_yaml(cfg):
    lines = []
    for k, v in cfg.items():
        if k in RUN_KEYS:
            continue
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, list):
            v = "[" + ", ".join(str(e) for e in v) + "]"
        lines.append(f"{k}: {v}")
    return "\n".join(lines) + "\n"


def make(name, cfg, out_dir):
    g = torch.Generator().manual_seed(sum(map(ord, name)))
    params32 = {}
    for pname, shape in param_shapes(cfg).items():
        if pname.endswith("norm_weight") or pname == "post_norm.weight":
            t = 1.0 + 0.2 * torch.randn(shape, generator=g)
        elif pname.startswith(("W", "weights.")):
            t = 0.5 * torch.randn(shape, generator=g)  # large enough that the inner loop matters
        else:
            t = 0.3 * torch.randn(shape, generator=g)
        params32[pname] = t.float()
    B, L, C = cfg["batch"], cfg["length"], cfg["width"]
    x32 = torch.randn(B, L, C, generator=g).float()
    dy32 = torch.randn(B, L, C, generator=g).float()

    params = {k: v.double().requires_grad_() for k, v in params32.items()}
    x = x32.double().requires_grad_()
    y, _ = ttt_layer(params, x, cfg, cfg.get("valid_length"))
    (y * dy32.double()).sum().backward()

    tensors = {f"param.{k}": v for k, v in params32.items()}
    tensors["input.x"], tensors["input.dy"] = x32, dy32
    tensors["expect.y"] = y.detach()
    tensors["expect.grad.x"] = x.grad
    for k, v in params.items():
        tensors[f"expect.grad.{k}"] = v.grad
    meta = {"config": to_yaml(cfg), "batch": str(B), "length": str(L),
            "valid_length": str(cfg.get("valid_length", -1)),
            "generator": "tools/reference/make_ttt_fixtures.py", "torch": torch.__version__}
    path = os.path.join(out_dir, f"ttt_{name}.safetensors")
    save_file({k: v.contiguous() for k, v in tensors.items()}, path, metadata=meta)
    return path, os.path.getsize(path)


if __name__ == "__main__":
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
    total = 0
    for name, cfg in CONFIGS.items():
        path, size = make(name, cfg, out_dir)
        total += size
        print(f"wrote {path} ({size} bytes)")
    print(f"total {total} bytes")
