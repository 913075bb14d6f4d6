#!/usr/bin/env python3
"""The PyTorch twin of ttt.cpp's Moshi-shaped HybridLM (model.audio_head: depformer; ttt/model.cpp,
ttt/depformer.cpp, docs/spec/MOSHI_SPEC.md), for the Moshi 7B training-step benchmark
(bench_moshi7b_torch.py). The same parameters under the same names as ttt.cpp's:

  the temporal stack: hybrid_torch's (embeddings of every stream summed, layers with attention,
      the TTT branches where hybrid, SwiGLU; RMSNorm), with one head: the text's
  the depformer: per codebook k, in[k](temporal) + the embedding of the token before it (the text
      token for k = 0), a causal transformer over the step's codebooks whose projections and
      gating are codebook k's own (weight set k), no positional embedding, head linears[k]
  the loss: moshi-finetune's (HybridLM::depformer_loss): per part sum(w ce) / sum(w) over the
      positions with a target, the text's padding ids weighted text_padding_weight, audio
      codebook 0 first_codebook_weight, text_weight * text + audio_weight * audio

`check()` runs a tiny model forward and backward on the CPU and checks the parameter count of
Moshi 7B + five TTT-MultiLayer branches against ttt.cpp's (configs/moshi7b_ttt_multilayer.yaml).
"""
import math

import torch
import torch.nn.functional as F

import hybrid_torch
from hybrid_torch import rms_norm, sub, swiglu, vocabs


def depformer_defaults(c):
    d = dict(dim=32, num_layers=2, num_heads=2, ffn_hidden=44, steps=8, context=8, multi_linear=True, schedule=None)
    d.update(c.get("depformer", {}))
    return d


def weight_sets(d):
    return (max(d["schedule"]) + 1) if d["schedule"] else d["steps"]


def weight_set(d, k):
    return d["schedule"][k] if d["schedule"] else k


def param_shapes(c):
    """Every parameter's name and shape, as ttt.cpp's HybridLM with a depformer names them."""
    d = depformer_defaults(c)
    s = {k: v for k, v in hybrid_torch.param_shapes(c).items() if not (k.startswith("heads.") and k != "heads.0.weight")}
    D, C, h = d["dim"], c["width"], d["ffn_hidden"]
    for w in range(weight_sets(d) if d["multi_linear"] else 1):
        s[f"depformer.in.{w}.weight"] = (D, C)
    s["depformer.text_emb.weight"] = (c["text_vocab"] + 1, D)
    for k in range(d["steps"] - 1):
        s[f"depformer.emb.{k}.weight"] = (c["audio_vocab"] + 1, D)
    for l in range(d["num_layers"]):
        p = f"depformer.layers.{l}."
        s[p + "norm1.weight"] = (D,)
        s[p + "norm2.weight"] = (D,)
        for w in range(weight_sets(d)):
            s[p + f"self_attn.in_projs.{w}.weight"] = (3 * D, D)
            s[p + f"self_attn.out_projs.{w}.weight"] = (D, D)
            s[p + f"gating.{w}.linear_in.weight"] = (2 * h, D)
            s[p + f"gating.{w}.linear_out.weight"] = (D, h)
    for k in range(d["steps"]):
        s[f"depformer.linears.{k}.weight"] = (c["audio_vocab"], D)
    return s


def temporal(params, tokens, c):
    """The stack's output after out_norm, [B, T, C] (HybridLM::hidden)."""
    h = sum(F.embedding(tokens[..., k], params[f"emb.{k}.weight"]) for k in range(len(vocabs(c))))
    for l in range(c["num_layers"]):
        # through the module, so that a benchmark's torch.compile or checkpoint of run_block applies
        h = hybrid_torch.run_block(h, sub(params, f"layers.{l}."), c, hybrid_torch.is_hybrid(c, l))
    return rms_norm(h, params["out_norm.weight"], c["norm_eps"])


def per_set(d, x, fn):
    """fn(k, x[:, k]) for each codebook k, stacked back along dim 1."""
    return torch.stack([fn(k, x[:, k]) for k in range(x.shape[1])], dim=1)


def depformer_layer(x, p, d, eps):
    N, K, D = x.shape
    H = d["num_heads"]
    hd = D // H
    xn = rms_norm(x, p["norm1.weight"], eps)
    qkv = per_set(d, xn, lambda k, v: v @ p[f"self_attn.in_projs.{weight_set(d, k)}.weight"].T)
    q, kk, v = qkv.reshape(N, K, 3, H, hd).permute(2, 0, 3, 1, 4)
    i, j = torch.arange(K, device=x.device)[:, None], torch.arange(K, device=x.device)[None, :]
    allowed = (j <= i) & ((i - j) < d["context"])
    a = F.scaled_dot_product_attention(q, kk, v, attn_mask=allowed)
    a = a.permute(0, 2, 1, 3).reshape(N, K, D)
    h = x + per_set(d, a, lambda k, v: v @ p[f"self_attn.out_projs.{weight_set(d, k)}.weight"].T)
    hn = rms_norm(h, p["norm2.weight"], eps)
    return h + per_set(d, hn, lambda k, v: swiglu(v, sub(p, f"gating.{weight_set(d, k)}.")))


def depformer(params, temporal_out, tokens, c):
    """Teacher-forced audio logits: codebook k sees the step's token k - 1 (the text for k = 0);
    tokens [B, T, >= 1 + steps]. Returns [B, T, audio_vocab] per codebook."""
    d = depformer_defaults(c)
    B, T, _ = temporal_out.shape
    inputs = []
    for k in range(d["steps"]):
        proj = temporal_out @ params[f"depformer.in.{weight_set(d, k) if d['multi_linear'] else 0}.weight"].T
        table = params["depformer.text_emb.weight"] if k == 0 else params[f"depformer.emb.{k - 1}.weight"]
        inputs.append(proj + F.embedding(tokens[..., k], table))
    x = torch.stack(inputs, dim=2).reshape(B * T, d["steps"], d["dim"])
    for l in range(d["num_layers"]):
        x = depformer_layer(x, sub(params, f"depformer.layers.{l}."), d, c["norm_eps"])
    return [(x[:, k] @ params[f"depformer.linears.{k}.weight"].T).reshape(B, T, -1) for k in range(d["steps"])]


def loss_targets(targets, c):
    """Per predicted stream the target (-1 where none) and its weight (HybridLM::loss_targets)."""
    d = depformer_defaults(c)
    lc = dict(first_codebook_weight=100.0, text_padding_ids=[3, 0], text_padding_weight=0.5)
    lc.update(c.get("loss", {}))
    P = 1 + d["steps"]
    t = targets[..., :P]
    pad = torch.tensor([c["text_vocab"]] + [c["audio_vocab"]] * d["steps"], device=t.device)
    predicted = (t != -1) & (t != pad)
    w = torch.ones(t.shape, dtype=torch.float32, device=t.device)
    for pid in lc["text_padding_ids"]:
        w[..., 0] = torch.where(t[..., 0] == pid, lc["text_padding_weight"], w[..., 0])
    w[..., 1] = lc["first_codebook_weight"]
    return torch.where(predicted, t, -1), torch.where(predicted, w, 0.0)


def loss(params, inputs, targets, c, prepared=None):
    """moshi-finetune's weighted loss of the text head and the depformer (HybridLM::depformer_loss)."""
    tgt, w = prepared if prepared is not None else loss_targets(targets, c)
    h = temporal(params, inputs, c)
    logits = [h @ params["heads.0.weight"].T] + depformer(params, h, targets, c)

    def weighted(p):
        ce = F.cross_entropy(logits[p].reshape(-1, logits[p].shape[-1]), tgt[..., p].reshape(-1), ignore_index=-1,
                             reduction="none")
        return (ce * w[..., p].reshape(-1)).sum()

    text = weighted(0) / w[..., 0].sum().clamp(1e-30, 1e30)
    audio = sum(weighted(p) for p in range(1, len(logits))) / w[..., 1:].sum().clamp(1e-30, 1e30)
    return text + audio


MOSHI_7B_TTT = dict(width=4096, num_layers=32, num_heads=32, ffn_hidden=11264, text_vocab=32000, audio_streams=16,
                    audio_vocab=2048, context=3000, norm_eps=1e-8, hybrid_layers=[6, 12, 18, 24, 30], gate_init=0.1,
                    gate_clamp=3.0,
                    depformer=dict(dim=1024, num_layers=6, num_heads=16, ffn_hidden=2816, steps=8, context=8,
                                   multi_linear=True),
                    ttt=dict(variant="multilayer", heads=32, mlp_dims=[128, 512, 512, 128], mini_batch_size=64,
                             ttt_base_lr=0.1, minibatch_mode="causal", lr_gate="per_head"))


def is_trainable(name):
    """The fine-tune's trainable set: the TTT branches and their gates (ttt.cpp's default for a run
    from model.init_from)."""
    return ".ttt." in name or ".forward_ssm_gating." in name


def check():
    c = hybrid_torch.model_defaults(MOSHI_7B_TTT)
    shapes = param_shapes(c)
    total = sum(math.prod(s) for s in shapes.values())
    trainable = sum(math.prod(s) for n, s in shapes.items() if is_trainable(n))
    # ttt.cpp: `ttt-train --config configs/moshi7b_ttt_multilayer.yaml --dry-run` (and the YAML's header)
    assert total - trainable == 7_687_729_152, total - trainable
    assert trainable == 398_848_480, trainable
    tiny = hybrid_torch.model_defaults(dict(width=32, num_layers=2, num_heads=4, text_vocab=20, audio_streams=4, audio_vocab=9,
                                            hybrid_layers=[1], depformer=dict(dim=16, num_layers=2, num_heads=2, ffn_hidden=24,
                                                                              steps=3, context=2),
                                            ttt=dict(variant="multilayer", heads=2, mlp_dims=[16, 24, 16],
                                                     mini_batch_size=4, minibatch_mode="causal")))
    g = torch.Generator().manual_seed(0)
    params = {}
    for name, shape in param_shapes(tiny).items():
        params[name] = (torch.randn(shape, generator=g) * (1.0 if "emb" in name else 0.05)).requires_grad_(is_trainable(name))
        if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name.endswith("ttt_norm_weight"):
            params[name] = torch.ones(shape).requires_grad_(is_trainable(name))
    vocab = torch.tensor([20, 9, 9, 9, 9])
    tokens = (torch.rand(2, 9, 5, generator=g) * vocab).long()
    value = loss(params, tokens[:, :-1], tokens[:, 1:], tiny)
    value.backward()
    assert torch.isfinite(value), value
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for n, p in params.items() if is_trainable(n))
    assert all(p.grad is None for n, p in params.items() if not is_trainable(n))
    print(f"moshi_torch: Moshi 7B + TTT {total:,} parameters ({trainable:,} trainable) as ttt.cpp counts; "
          f"a tiny model's loss {value.item():.4f}, gradients finite")


if __name__ == "__main__":
    check()
