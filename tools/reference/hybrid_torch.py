#!/usr/bin/env python3
"""The PyTorch twin of ttt.cpp's HybridLM (ttt/model.cpp; docs/spec/MOSHI_SPEC.md): the same
stack with the same parameter names, written as plain functions over a dict of tensors, for the
model fixtures (make_model_fixtures.py) and the training-step benchmark (bench_model_torch.py).

  per-stream embeddings (vocab + 1 rows: the last is the pad id), summed per step
  each layer: h += attn(rms1(h)); hybrid: h += tanh(alpha) * ttt(h) [+ the reversed-sequence
              branch]; h += swiglu(rms2(h))
  rms_out, one bias-free head per stream; cross-entropy per stream ignoring pad ids, weighted mean

The TTT branch is ttt_torch_dual.ttt_layer_dual (checked against the independent reference).
"""
import math

import torch
import torch.nn.functional as F

from ttt_reference import param_shapes as ttt_param_shapes
from ttt_torch_dual import _rope, ttt_layer_dual


def model_defaults(cfg):
    """cfg with ModelConfig's defaults filled in (ttt/model.h)."""
    c = dict(num_heads=4, audio_streams=0, audio_vocab=0, context=0, rope_theta=10000.0, norm_eps=1e-8,
             causal=True, bidirectional=False, ttt_input_norm=False, gate_init=0.1, gate_clamp=0.0,
             stream_weights=None, hybrid_layers=[], ffn_hidden=0)
    c.update(cfg)
    c["ttt"] = dict(c.get("ttt", {}), width=c["width"])
    return c


def hidden(c):
    if c["ffn_hidden"] > 0:
        return c["ffn_hidden"]
    return max(64, round(2 / 3 * 4.125 * c["width"] / 64) * 64)


def vocabs(c):
    return [c["text_vocab"]] + [c["audio_vocab"]] * c["audio_streams"]


def is_hybrid(c, layer):
    return any((i + c["num_layers"] if i < 0 else i) == layer for i in c["hybrid_layers"])


def param_shapes(c):
    """Every parameter's name and shape, as ttt.cpp's HybridLM names them."""
    C, h = c["width"], hidden(c)
    s = {}
    for k, v in enumerate(vocabs(c)):
        s[f"emb.{k}.weight"] = (v + 1, C)
    for l in range(c["num_layers"]):
        p = f"layers.{l}."
        s[p + "norm1.weight"] = (C,)
        s[p + "self_attn.in_proj.weight"] = (3 * C, C)
        s[p + "self_attn.out_proj.weight"] = (C, C)
        if is_hybrid(c, l):
            if c["ttt_input_norm"]:
                s[p + "norm_ttt.weight"] = (C,)
            for name, shape in ttt_param_shapes(c["ttt"]).items():
                s[p + "ttt." + name] = shape
            s[p + "forward_ssm_gating.gating_alpha"] = (C,)
            if c["bidirectional"]:
                s[p + "backward_ssm_gating.gating_alpha"] = (C,)
        s[p + "norm2.weight"] = (C,)
        s[p + "ffn.linear_in.weight"] = (2 * h, C)
        s[p + "ffn.linear_out.weight"] = (C, h)
    s["out_norm.weight"] = (C,)
    for k, v in enumerate(vocabs(c)):
        s[f"heads.{k}.weight"] = (v, C)
    return s


def init_params(c, generator, dtype=torch.float32, device="cpu", scale=0.02, shapes=None):
    """Random values for every parameter of `shapes` (default: this model's) (nothing left at 0
    or 1, so that the fixtures exercise every term): embeddings N(0, 1), norm weights 1 + N(0,
    0.1), gates gate_init + N(0, 0.1), the rest N(0, scale)."""
    norms = ("norm1.weight", "norm2.weight", "norm_ttt.weight", "out_norm.weight", "ttt_norm_weight", "post_norm.weight")
    params = {}
    for name, shape in (shapes or param_shapes(c)).items():
        noise = torch.randn(shape, generator=generator, dtype=torch.float64)
        if name.startswith("emb."):
            t = noise
        elif name.endswith(norms):
            t = 1 + 0.1 * noise
        elif name.endswith("gating_alpha"):
            t = c["gate_init"] + 0.1 * noise
        else:
            t = scale * noise
        params[name] = t.to(dtype=dtype, device=device)
    return params


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


# True: attention through F.scaled_dot_product_attention (what a PyTorch user would write; PyTorch
# picks a fused kernel) instead of the explicit scores/softmax that mirrors ttt.cpp. Benchmarks only.
USE_SDPA = False


def attention(x, p, c):
    B, S, C = x.shape
    H = c["num_heads"]
    d = C // H
    qkv = (x @ p["in_proj.weight"].T).reshape(B, S, 3, H, d).permute(2, 0, 3, 1, 4)
    pos = torch.arange(S, device=x.device)
    q, k, v = _rope(qkv[0], pos, c["rope_theta"]), _rope(qkv[1], pos, c["rope_theta"]), qkv[2]
    if USE_SDPA and c["context"] == 0:
        out = F.scaled_dot_product_attention(q, k, v, is_causal=c["causal"])
        return out.permute(0, 2, 1, 3).reshape(B, S, C) @ p["out_proj.weight"].T
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(d)
    i, j = torch.arange(S, device=x.device)[:, None], torch.arange(S, device=x.device)[None, :]
    blocked = torch.zeros(S, S, dtype=torch.bool, device=x.device)
    if c["causal"]:
        blocked |= j > i
    if c["context"] > 0:
        blocked |= (i - j) >= c["context"]
        if not c["causal"]:
            blocked |= (j - i) >= c["context"]
    scores = scores + torch.where(blocked, -1e9, 0.0).to(scores.dtype)  # additive, as ttt.cpp
    out = torch.softmax(scores, dim=-1) @ v
    return out.permute(0, 2, 1, 3).reshape(B, S, C) @ p["out_proj.weight"].T


def swiglu(x, p):
    a, b = (x @ p["linear_in.weight"].T).chunk(2, dim=-1)
    return (F.silu(a) * b) @ p["linear_out.weight"].T


def gate(y, alpha, c):
    if c["gate_clamp"] > 0:
        alpha = alpha.clamp(-c["gate_clamp"], c["gate_clamp"])
    return torch.tanh(alpha) * y


def sub(params, prefix):
    return {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}


def block(h, p, c, hybrid):
    """One layer: attention, the TTT branch when hybrid, the feed-forward (each pre-norm, residual)."""
    eps = c["norm_eps"]
    h = h + attention(rms_norm(h, p["norm1.weight"], eps), sub(p, "self_attn."), c)
    if hybrid:
        u = rms_norm(h, p["norm_ttt.weight"], eps) if c["ttt_input_norm"] else h
        tp = sub(p, "ttt.")
        branch = gate(ttt_layer_dual(tp, u, c["ttt"]), p["forward_ssm_gating.gating_alpha"], c)
        if c["bidirectional"]:
            back = ttt_layer_dual(tp, u.flip(1), c["ttt"]).flip(1)
            branch = branch + gate(back, p["backward_ssm_gating.gating_alpha"], c)
        h = h + branch
    return h + swiglu(rms_norm(h, p["norm2.weight"], eps), sub(p, "ffn."))


# The function forward() runs per layer; a benchmark may swap in torch.compile(block), which
# compiles the two kinds of layer once each instead of the whole unrolled model.
run_block = block


def forward(params, tokens, c):
    """tokens [B, S, streams] (int64) -> logits per stream [B, S, vocab]."""
    h = sum(F.embedding(tokens[..., k], params[f"emb.{k}.weight"]) for k in range(len(vocabs(c))))
    for l in range(c["num_layers"]):
        h = run_block(h, sub(params, f"layers.{l}."), c, is_hybrid(c, l))
    h = rms_norm(h, params["out_norm.weight"], c["norm_eps"])
    return [h @ params[f"heads.{k}.weight"].T for k in range(len(vocabs(c)))]


def loss(params, inputs, targets, c):
    """Weighted mean over streams of the cross-entropy that ignores each stream's pad id."""
    logits = forward(params, inputs, c)
    weights = c["stream_weights"] or [1.0] * len(logits)
    total = 0
    for k, (lg, v) in enumerate(zip(logits, vocabs(c))):
        total = total + weights[k] * F.cross_entropy(lg.reshape(-1, v), targets[..., k].reshape(-1), ignore_index=v)
    return total / sum(weights)
