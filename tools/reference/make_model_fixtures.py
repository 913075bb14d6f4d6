#!/usr/bin/env python3
"""Writes tests/fixtures/model_<name>.safetensors: the whole hybrid stack (hybrid_torch.py) on a
small config, for tests/ttt/test_model_fixtures.cpp to reproduce with ttt.cpp's HybridLM.

Each file holds:
  metadata "config"            the model as ttt-train YAML (model: and ttt: sections)
  param.<name>      (F32)      every parameter, by its ttt.cpp name
  input.tokens, input.targets (I64)  [B, S, streams]; pad ids (= the stream's vocab) included
  expect.loss       (F64)      the weighted cross-entropy, computed in float64 from the F32 values
  expect.grad.<name> (F64)     its gradient for every parameter
Run:  python3 tools/reference/make_model_fixtures.py [OUT_DIR]   (needs torch and safetensors)
"""
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hybrid_torch  # noqa: E402
import moshi_torch  # noqa: E402

CONFIGS = {
    # causal stack, text + one audio stream, attention window, weighted streams, TTT-MLP branch
    "hybrid_causal": dict(model=dict(width=16, num_layers=2, num_heads=2, hybrid_layers=[1], text_vocab=11,
                                     audio_streams=1, audio_vocab=7, context=5, stream_weights=[1.0, 0.5],
                                     gate_init=0.4),
                          ttt=dict(variant="mlp", heads=2, mlp_expansion=2, mini_batch_size=4, ttt_base_lr=0.5),
                          batch=2, seq=10),
    # non-causal: bidirectional TTT-Linear branches in full mode, input norm, clamped gates
    "hybrid_bidirectional": dict(model=dict(width=16, num_layers=2, num_heads=4, hybrid_layers=[0, -1], text_vocab=9,
                                            causal=False, bidirectional=True, ttt_input_norm=True, gate_clamp=0.5,
                                            gate_init=0.3),
                                 ttt=dict(variant="linear", heads=4, mini_batch_size=3, ttt_base_lr=0.3,
                                          minibatch_mode="full"),
                                 batch=2, seq=8),
    # Moshi-shaped: the depformer (3 codebooks, a window of 2 over them) and moshi-finetune's weighted
    # loss (text padding ids, codebook 0 weighed 100), a causal TTT-MultiLayer branch (moshi_torch.py)
    "moshi_ttt": dict(model=dict(width=16, num_layers=2, num_heads=2, hybrid_layers=[1], text_vocab=11, audio_streams=4,
                                 audio_vocab=7, gate_init=0.4, gate_clamp=3.0, audio_head="depformer",
                                 depformer=dict(dim=8, num_layers=2, num_heads=2, ffn_hidden=12, steps=3, context=2,
                                                multi_linear=True)),
                      ttt=dict(variant="multilayer", heads=2, mlp_dims=[8, 12, 8], mini_batch_size=4, ttt_base_lr=0.5,
                               minibatch_mode="causal", lr_gate="per_head"),
                      batch=2, seq=10),
}


def yaml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(str(e) for e in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {yaml_value(e)}" for k, e in v.items()) + "}"
    return str(v)


def to_yaml(spec):
    lines = []
    for section in ("model", "ttt"):
        lines.append(f"{section}:")
        lines += [f"  {k}: {yaml_value(v)}" for k, v in spec[section].items()]
    return "\n".join(lines) + "\n"


def make(name, spec, out_dir):
    g = torch.Generator().manual_seed(sum(map(ord, name)))
    c = hybrid_torch.model_defaults(dict(spec["model"], ttt=spec["ttt"]))
    twin = moshi_torch if c.get("audio_head") == "depformer" else hybrid_torch
    params32 = hybrid_torch.init_params(c, g, torch.float32, scale=0.3, shapes=twin.param_shapes(c))
    vocabs = hybrid_torch.vocabs(c)
    B, S = spec["batch"], spec["seq"]
    # ids in [0, vocab]: vocab itself is the pad id (an embedding row; ignored as a target)
    tokens = torch.stack([torch.randint(0, v + 1, (B, S), generator=g) for v in vocabs], dim=-1)
    targets = torch.stack([torch.randint(0, v + 1, (B, S), generator=g) for v in vocabs], dim=-1)
    params = {k: v.double().requires_grad_() for k, v in params32.items()}
    loss = twin.loss(params, tokens, targets, c)
    grads = torch.autograd.grad(loss, list(params.values()))
    tensors = {"param." + k: v.contiguous() for k, v in params32.items()}
    tensors["input.tokens"] = tokens.contiguous()
    tensors["input.targets"] = targets.contiguous()
    tensors["expect.loss"] = loss.detach().reshape(1)
    for k, gr in zip(params, grads):
        tensors["expect.grad." + k] = gr.contiguous()
    path = os.path.join(out_dir, f"model_{name}.safetensors")
    save_file(tensors, path, metadata={"config": to_yaml(spec)})
    print(f"{path}: loss {loss.item():.6f}, {len(params)} parameters")


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures")
    for name, spec in CONFIGS.items():
        make(name, spec, out_dir)


if __name__ == "__main__":
    main()
