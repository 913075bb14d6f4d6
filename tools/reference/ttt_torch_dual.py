#!/usr/bin/env python3
"""A fast PyTorch TTT layer (dual form, explicit inner gradients) for side-by-side benchmarks.

ttt_reference.py is the independent, deliberately simple reference (per-token autograd, primal
form); it is far too slow to benchmark against. This file is what a PyTorch user would write for
speed: the mini-batch dual form of docs/spec/TTT_SPEC.md E10-E15 with batched matmuls, the same parameters
and names. `check()` proves it computes the reference's function (outputs and gradients).
"""
import math

import torch
import torch.nn.functional as F

from ttt_reference import head_dim, inner_names, param_shapes, ttt_layer


def _rope(x, positions, theta):
    """RoPE on interleaved pairs (x[2i], x[2i+1]) in x's own dtype and device; the angles are
    computed in float64 once (the reference's rope works in complex128, which is slow on a GPU)."""
    d = x.shape[-1]
    freqs = theta ** (-torch.arange(0, d, 2, dtype=torch.float64, device=x.device) / d)
    angles = positions.to(torch.float64)[:, None] * freqs[None, :]
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    pairs = x.reshape(*x.shape[:-1], d // 2, 2)
    even, odd = pairs[..., 0], pairs[..., 1]
    return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).reshape(x.shape)


def _ln_fused_l2_grad(z, target, gamma, beta, eps=1e-6):
    """E10: gradient of 0.5 ||LN(z) gamma + beta - target||^2 with respect to z (last dim)."""
    D = z.shape[-1]
    mu = z.mean(-1, keepdim=True)
    var = z.var(-1, keepdim=True, unbiased=False)
    std = torch.sqrt(var + eps)
    xhat = (z - mu) / std
    gy = (gamma * xhat + beta - target) * gamma
    return (D * gy - gy.sum(-1, keepdim=True) - xhat * (gy * xhat).sum(-1, keepdim=True)) / (D * std)


def _gelu_grad(x):
    k, c = math.sqrt(2 / math.pi), 0.044715
    t = torch.tanh(k * (x + c * x**3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * c * x * x)


def _minibatch_step(q, k, tgt, e, W, Bi, g2, b2):
    """One mini-batch of the dual form: its outputs and the inner state after it (lists W, Bi)."""
    layers = len(W)
    xs, zs = [k], []
    for l in range(layers):
        zs.append(xs[l] @ W[l] + Bi[l])
        if l + 1 < layers:
            xs.append(F.gelu(zs[l], approximate="tanh"))
    grads = [None] * layers
    grads[-1] = _ln_fused_l2_grad(zs[-1], tgt, g2, b2)
    for l in range(layers - 2, -1, -1):
        grads[l] = (grads[l + 1] @ W[l + 1].transpose(-1, -2)) * _gelu_grad(zs[l])
    xbar = q
    for l in range(layers):
        attn = (xbar @ xs[l].transpose(-1, -2)) * e
        zbar = xbar @ W[l] - attn @ grads[l] + Bi[l] - e @ grads[l]
        if l + 1 < layers:
            xbar = F.gelu(zbar, approximate="tanh")
    mu = zbar.mean(-1, keepdim=True)
    var = zbar.var(-1, keepdim=True, unbiased=False)
    out = q + (zbar - mu) / torch.sqrt(var + 1e-6) * g2 + b2
    e_last = e[:, :, -1:, :]
    W = [W[l] - xs[l].transpose(-1, -2) @ (e_last.transpose(-1, -2) * grads[l]) for l in range(layers)]
    Bi = [Bi[l] - e_last @ grads[l] for l in range(layers)]
    return out, W, Bi


# What ttt_layer_dual calls per mini-batch: a benchmark may put torch.compile(_minibatch_step) here
# (one small graph compiled once, instead of the whole unrolled loop).
minibatch_step = _minibatch_step


def ttt_layer_dual(params, x, cfg):
    B, L, C = x.shape
    H, d, b = cfg["heads"], head_dim(cfg), cfg["mini_batch_size"]
    n = math.ceil(L / b)
    Lp = n * b
    xp = F.pad(x, (0, 0, 0, Lp - L)) if Lp > L else x

    def project(name):
        return (xp @ params[name + ".weight"].T + params[name + ".bias"]).reshape(B, Lp, H, d).transpose(1, 2)

    XQ, XK, XV = project("wq"), project("wk"), project("wv")
    if cfg.get("qk_l2_norm", True):
        XQ, XK = F.normalize(XQ, dim=-1), F.normalize(XK, dim=-1)
    if cfg.get("rope_positions", "global") != "none":
        t = torch.arange(Lp, device=x.device)
        pos = t if cfg.get("rope_positions", "global") == "global" else t % b
        XQ, XK = _rope(XQ, pos, cfg.get("rope_theta", 10000.0)), _rope(XK, pos, cfg.get("rope_theta", 10000.0))
    gamma = params["ttt_norm_weight"].reshape(1, H, 1, 1, d)
    beta = params["ttt_norm_bias"].reshape(1, H, 1, 1, d)
    if cfg.get("target_norm", True):
        z = XV - XK
        zn = (z - z.mean(-1, keepdim=True)) / (z.std(-1, keepdim=True) + 1e-8)
        XV = XK + zn * gamma[:, :, 0] + beta[:, :, 0]
    if cfg.get("lr_gate", "per_head") == "per_head":
        logits = torch.einsum("blhd,hd->blh", xp.reshape(B, Lp, H, d), params["learnable_ttt_lr_weight"].reshape(H, d))
    else:
        logits = xp @ params["learnable_ttt_lr_weight"].reshape(H, C).T
    eta_tok = torch.sigmoid(logits + params["learnable_ttt_lr_bias"].reshape(H)).permute(0, 2, 1)
    eta_tok = eta_tok * (cfg.get("ttt_base_lr", 1.0) / d)
    if Lp > L:
        eta_tok = eta_tok * (torch.arange(Lp, device=x.device) < L).to(x.dtype)
    eta_tok = eta_tok.reshape(B, H, n, 1, b)
    causal = cfg.get("minibatch_mode", "causal") == "causal"
    if causal:
        w_pos = torch.clamp(1.0 / torch.arange(1, b + 1, device=x.device, dtype=x.dtype) + params["learnable_token_idx_bias"], min=0)
    else:
        w_pos = torch.full((b,), 1.0 / b, device=x.device, dtype=x.dtype)
    eta = w_pos.reshape(b, 1) * eta_tok  # [B, H, n, b, b]
    if causal:
        eta = torch.tril(eta)

    shape5 = lambda t: t.reshape(B, H, n, b, d)  # noqa: E731
    Q, K, TGT = shape5(XQ), shape5(XK), shape5(XV - XK)
    W = [params[w].unsqueeze(0).expand(B, *params[w].shape) for w, _ in inner_names(cfg)]
    Bi = [params[bn].unsqueeze(0).expand(B, *params[bn].shape) for _, bn in inner_names(cfg)]
    g2, b2 = gamma[:, :, 0], beta[:, :, 0]
    outs = []
    for m in range(n):
        o, W, Bi = minibatch_step(Q[:, :, m], K[:, :, m], TGT[:, :, m], eta[:, :, m], W, Bi, g2, b2)
        outs.append(o)
    out = torch.stack(outs, dim=2).reshape(B, H, Lp, d)
    y = out.transpose(1, 2).reshape(B, Lp, C)[:, :L]
    y = F.layer_norm(y, (C,), params["post_norm.weight"], params["post_norm.bias"], eps=1e-6)
    return y @ params["wo.weight"].T + params["wo.bias"]


def check():
    """Outputs and gradients agree with ttt_reference.py (float64, CPU) on small configs."""
    configs = [
        dict(variant="mlp", width=16, heads=2, mlp_expansion=4, mini_batch_size=4, ttt_base_lr=0.5),
        dict(variant="linear", width=16, heads=4, mini_batch_size=4, minibatch_mode="full", lr_gate="full_width"),
        dict(variant="multilayer", width=16, heads=2, mlp_dims=[8, 16, 12, 8], mini_batch_size=2, rope_positions="minibatch"),
    ]
    g = torch.Generator().manual_seed(0)
    for cfg in configs:
        params = {k: (0.4 * torch.randn(s, generator=g, dtype=torch.float64)).requires_grad_() for k, s in param_shapes(cfg).items()}
        x = torch.randn(2, 10, cfg["width"], generator=g, dtype=torch.float64)
        dy = torch.randn(2, 10, cfg["width"], generator=g, dtype=torch.float64)
        y_ref, _ = ttt_layer(params, x, cfg)
        g_ref = torch.autograd.grad((y_ref * dy).sum(), list(params.values()))
        y = ttt_layer_dual(params, x, cfg)
        g_new = torch.autograd.grad((y * dy).sum(), list(params.values()))
        err = max([(y - y_ref).abs().max().item()] + [(a - b).abs().max().item() for a, b in zip(g_new, g_ref)])
        assert err < 1e-9, (cfg, err)
        print(f"ttt_torch_dual matches ttt_reference for {cfg['variant']}: max abs difference {err:.1e}")


if __name__ == "__main__":
    check()
