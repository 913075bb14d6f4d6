#!/usr/bin/env python3
"""An independent PyTorch implementation of one TTT layer, written from docs/spec/TTT_SPEC.md.

It shares no code or structure with the C++ layer on purpose:
  * the inner gradient of each token is computed by torch.autograd.grad (create_graph=True) on the
    reconstruction loss of E9, not by the hand-derived formulas E10-E11;
  * the inner update is applied in the primal form: token i of a mini-batch runs through weights
    W - sum_j eta[i, j] grad_j (materialised), not through the dual form E13;
  * RoPE rotates interleaved pairs as complex numbers.
So agreement with ttt.cpp checks E10, E11, E13 and E15 as well as the plumbing around them.

Parameter names follow docs/spec/TTT_SPEC.md section 7a (wq.weight, learnable_ttt_lr_weight, W1, weights.0, ...).
"""
import math

import torch
import torch.nn.functional as F


def head_dim(cfg):
    return cfg["width"] // cfg["heads"]


def inner_dims(cfg):
    d = head_dim(cfg)
    if cfg["variant"] == "linear":
        return [d, d]
    if cfg["variant"] == "mlp":
        return [d, cfg.get("mlp_expansion", 4) * d, d]
    return list(cfg["mlp_dims"])


def inner_names(cfg):
    """Names of the inner weights and biases, layer by layer."""
    layers = len(inner_dims(cfg)) - 1
    if cfg["variant"] == "multilayer":
        return [(f"weights.{l}", f"biases.{l}") for l in range(layers)]
    return [(f"W{l + 1}", f"b{l + 1}") for l in range(layers)]


def param_shapes(cfg):
    C, H, d = cfg["width"], cfg["heads"], head_dim(cfg)
    shapes = {}
    for p in ("wq", "wk", "wv", "wo"):
        shapes[p + ".weight"] = (C, C)
        shapes[p + ".bias"] = (C,)
    shapes["learnable_ttt_lr_weight"] = (H, 1, d if cfg.get("lr_gate", "per_head") == "per_head" else C)
    shapes["learnable_ttt_lr_bias"] = (H, 1)
    shapes["ttt_norm_weight"] = (H, d)
    shapes["ttt_norm_bias"] = (H, d)
    shapes["post_norm.weight"] = (C,)
    shapes["post_norm.bias"] = (C,)
    if cfg.get("minibatch_mode", "causal") == "causal":
        shapes["learnable_token_idx_bias"] = (cfg["mini_batch_size"],)
    dims = inner_dims(cfg)
    for l, (wn, bn) in enumerate(inner_names(cfg)):
        shapes[wn] = (H, dims[l], dims[l + 1])
        shapes[bn] = (H, 1, dims[l + 1])
    return shapes


def gelu(x):
    return F.gelu(x, approximate="tanh")


def rope(x, positions, theta):
    """Rotate pairs (x[2i], x[2i+1]) by positions[t] * theta^(-2i/d), as complex multiplication."""
    d = x.shape[-1]
    freqs = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    angles = positions.to(torch.float64)[:, None] * freqs[None, :]
    rot = torch.polar(torch.ones_like(angles), angles).to(torch.complex128)
    pairs = torch.view_as_complex(x.to(torch.float64).reshape(*x.shape[:-1], d // 2, 2).contiguous())
    return torch.view_as_real(pairs * rot).reshape(x.shape).to(x.dtype)


def ln_per_head(z, weight, bias, eps=1e-6):
    """LayerNorm over the last dim of z [B, H, ..., d] with per-head weight/bias [H, d] (E8)."""
    mu = z.mean(-1, keepdim=True)
    var = ((z - mu) ** 2).mean(-1, keepdim=True)
    shape = [1, weight.shape[0]] + [1] * (z.dim() - 3) + [weight.shape[1]]
    return (z - mu) / torch.sqrt(var + eps) * weight.reshape(shape) + bias.reshape(shape)


def inner_model(x, state):
    """g(x): linear layers with gelu between; state = [W1, b1, W2, b2, ...] each [B, H, ...]."""
    h = x
    layers = len(state) // 2
    for l in range(layers):
        h = h @ state[2 * l] + state[2 * l + 1]
        if l + 1 < layers:
            h = gelu(h)
    return h


def ttt_layer(params, x, cfg, valid_length=None):
    """x [B, L, C] -> [B, L, C]; params: name -> tensor (requires_grad as the caller likes)."""
    B, L, C = x.shape
    H, d, b = cfg["heads"], head_dim(cfg), cfg["mini_batch_size"]
    n = math.ceil(L / b)
    Lp = n * b
    valid = L if valid_length is None else min(valid_length, L)
    xp = torch.cat([x, x.new_zeros(B, Lp - L, C)], dim=1) if Lp > L else x

    def project(name):
        y = xp @ params[name + ".weight"].T + params[name + ".bias"]
        return y.reshape(B, Lp, H, d).transpose(1, 2)  # [B, H, Lp, d]

    XQ, XK, XV = project("wq"), project("wk"), project("wv")
    if cfg.get("qk_l2_norm", True):
        XQ, XK = F.normalize(XQ, dim=-1), F.normalize(XK, dim=-1)
    rope_mode = cfg.get("rope_positions", "global")
    if rope_mode != "none":
        t = torch.arange(Lp)
        positions = t if rope_mode == "global" else t % b
        theta = cfg.get("rope_theta", 10000.0)
        XQ, XK = rope(XQ, positions, theta), rope(XK, positions, theta)
    nw = params["ttt_norm_weight"].reshape(1, H, 1, d)
    nb = params["ttt_norm_bias"].reshape(1, H, 1, d)
    if cfg.get("target_norm", True):
        z = XV - XK
        zn = (z - z.mean(-1, keepdim=True)) / (z.std(-1, keepdim=True, unbiased=True) + 1e-8)
        XV = XK + zn * nw + nb
    target = XV - XK

    # inner learning rates (E4-E7)
    if cfg.get("lr_gate", "per_head") == "per_head":
        logits = torch.einsum("blhd,hd->blh", xp.reshape(B, Lp, H, d), params["learnable_ttt_lr_weight"].reshape(H, d))
    else:
        logits = xp @ params["learnable_ttt_lr_weight"].reshape(H, C).T
    logits = logits + params["learnable_ttt_lr_bias"].reshape(H)
    eta_tok = torch.sigmoid(logits).permute(0, 2, 1) * cfg.get("ttt_base_lr", 1.0) / d  # [B, H, Lp]
    mask = (torch.arange(Lp) < valid).to(x.dtype)
    eta_tok = (eta_tok * mask).reshape(B, H, n, b)
    causal = cfg.get("minibatch_mode", "causal") == "causal"
    if causal:
        w_pos = torch.clamp(1.0 / torch.arange(1, b + 1, dtype=x.dtype) + params["learnable_token_idx_bias"], min=0)
    else:
        w_pos = torch.full((b,), 1.0 / b, dtype=x.dtype)

    state = []
    for wn, bn in inner_names(cfg):
        state += [params[wn].unsqueeze(0).expand(B, *params[wn].shape), params[bn].unsqueeze(0).expand(B, *params[bn].shape)]
    outputs = []
    for m in range(n):
        sl = slice(m * b, (m + 1) * b)
        q, k, tgt = XQ[:, :, sl], XK[:, :, sl], target[:, :, sl]
        # per-token gradients of l_j = 0.5 ||LN(g(k_j)) - tgt_j||^2 with respect to the state (E9)
        grads = []
        for j in range(b):
            pred = ln_per_head(inner_model(k[:, :, j : j + 1], state), params["ttt_norm_weight"], params["ttt_norm_bias"])
            loss = 0.5 * ((pred - tgt[:, :, j : j + 1]) ** 2).sum()
            grads.append(torch.autograd.grad(loss, state, create_graph=True))

        def stepped(i):
            """The state token i sees: W - sum_j eta[i, j] grad_j (j <= i when causal)."""
            out = []
            for p in range(len(state)):
                delta = 0
                for j in range(b):
                    if causal and j > i:
                        continue
                    eta_ij = w_pos[i] * eta_tok[:, :, m, j]  # [B, H]
                    delta = delta + eta_ij[:, :, None, None] * grads[j][p]
                out.append(state[p] - delta)
            return out

        for i in range(b):
            qi = q[:, :, i : i + 1]
            pred = ln_per_head(inner_model(qi, stepped(i)), params["ttt_norm_weight"], params["ttt_norm_bias"])
            outputs.append(qi + pred)
        state = stepped(b - 1)
    out = torch.cat(outputs, dim=2)  # [B, H, Lp, d]
    y = out.transpose(1, 2).reshape(B, Lp, C)[:, :L]
    y = F.layer_norm(y, (C,), params["post_norm.weight"], params["post_norm.bias"], eps=1e-6)
    return y @ params["wo.weight"].T + params["wo.bias"], state
