#!/usr/bin/env python3
"""The PyTorch side of the Moshi 7B fine-tuning step benchmark (docs/performance.md): the
twin moshi_torch.py (ttt.cpp's model, same parameters: tests/fixtures/model_moshi_ttt.safetensors
proves the function equal in f64) with the shape of configs/moshi7b_ttt_multilayer.yaml and the
step ttt-train runs there: the Moshi part frozen and stored in bf16, the five TTT-MultiLayer
branches and their gates trained in f32 (the TTT layers compute in f32 inside, as ttt.cpp's),
everything else under torch.autocast(bfloat16), attention through F.scaled_dot_product_attention
(causal; Moshi's window of 3000 steps does not bind at these lengths), fused AdamW, global-norm
clipping. Random weights and tokens. Prints one JSON line: median step time, tokens/s, peak memory.

  bench_moshi7b_torch.py [--seq 2048] [--batch 1] [--steps 5] [--warmup 2] [--compile-layers]
                         [--checkpoint-layers] [--tf32] [--device cuda] [--tiny]
(--tiny: a small model of the same structure, for a check on the CPU; --compile-layers:
torch.compile of each layer, two kinds compiled once each; --checkpoint-layers: recompute each
layer in backward, torch.utils.checkpoint, as ttt-train's model.checkpoint_layers; --tf32: the f32
products (the TTT branches') on TF32 tensor cores, as ttt-train's run.matmul_precision=tf32.)
"""
import argparse
import json
import statistics
import time

import torch
import torch.utils.checkpoint

import hybrid_torch
import moshi_torch
import ttt_torch_dual

TINY = dict(width=64, num_layers=4, num_heads=4, ffn_hidden=128, text_vocab=100, audio_streams=16, audio_vocab=32,
            context=3000, norm_eps=1e-8, hybrid_layers=[1, 3], gate_init=0.1, gate_clamp=3.0,
            depformer=dict(dim=32, num_layers=2, num_heads=2, ffn_hidden=48, steps=8, context=8, multi_linear=True),
            ttt=dict(variant="multilayer", heads=4, mlp_dims=[16, 32, 32, 16], mini_batch_size=16, ttt_base_lr=0.1,
                     minibatch_mode="causal", lr_gate="per_head"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seq", type=int, default=2048)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="cuda")
    p.add_argument("--compile-layers", action="store_true")
    p.add_argument("--checkpoint-layers", action="store_true")
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--tf32", action="store_true")
    a = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    cuda = a.device.startswith("cuda")
    spec = dict(TINY if a.tiny else moshi_torch.MOSHI_7B_TTT)
    assert a.seq <= spec["context"], "the window binds beyond the context: SDPA's causal mask would not be Moshi's"
    spec["context"] = 0  # equivalent at these lengths, and lets hybrid_torch take SDPA
    c = hybrid_torch.model_defaults(spec)
    hybrid_torch.USE_SDPA = True
    dual = hybrid_torch.ttt_layer_dual

    def ttt_in_f32(params, x, cfg):  # ttt.cpp's TTT layers compute in f32 whatever the activations are
        with torch.autocast(device_type="cuda" if cuda else "cpu", enabled=False):
            return dual(params, x.float(), cfg).to(x.dtype)

    hybrid_torch.ttt_layer_dual = ttt_in_f32
    if a.checkpoint_layers:
        block = hybrid_torch.block
        hybrid_torch.run_block = lambda h, params, cfg, hybrid: torch.utils.checkpoint.checkpoint(
            block, h, params, cfg, hybrid, use_reentrant=False)
    if a.compile_layers:
        # Each layer compiled, but the TTT layer's loop over mini-batches (32 at 2048 tokens) is not
        # unrolled into it: compiling the layers with it unrolled did not finish in 8 minutes on the
        # H200 (docs/performance.md). The loop stays in Python and its body, one mini-batch's step
        # (ttt_torch_dual.minibatch_step), is compiled once.
        hybrid_torch.ttt_layer_dual = torch.compiler.disable(hybrid_torch.ttt_layer_dual)
        ttt_torch_dual.minibatch_step = torch.compile(ttt_torch_dual.minibatch_step)
        hybrid_torch.run_block = torch.compile(hybrid_torch.run_block)

    # random weights made where they run: the frozen Moshi part in bf16, the TTT branches in f32
    g = torch.Generator(device=a.device).manual_seed(0)
    params, trainable = {}, []
    for name, shape in moshi_torch.param_shapes(c).items():
        train = moshi_torch.is_trainable(name)
        dtype = torch.float32 if train else torch.bfloat16
        if name.endswith(("norm1.weight", "norm2.weight", "out_norm.weight", "ttt_norm_weight", "post_norm.weight")):
            t = torch.ones(shape, dtype=dtype, device=a.device)
        elif name.endswith("gating_alpha"):
            t = torch.full(shape, c["gate_init"], dtype=dtype, device=a.device)
        else:
            t = (torch.randn(shape, generator=g, device=a.device, dtype=dtype) * (1.0 if ".emb." in name or name.startswith("emb.") else 0.02))
        params[name] = t.requires_grad_(train)
        if train:
            trainable.append(t)
    opt = torch.optim.AdamW(trainable, lr=1e-4, weight_decay=0.1, fused=cuda)
    vocab = torch.tensor([c["text_vocab"]] + [c["audio_vocab"]] * c["audio_streams"], device=a.device)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times, losses = [], []
    B, S = a.batch, a.seq
    for step in range(a.warmup + a.steps):
        tokens = (torch.rand(B, S + 1, len(vocab), generator=g, device=a.device) * vocab).long()
        inputs, targets = tokens[:, :-1], tokens[:, 1:]
        sync()
        t0 = time.perf_counter()
        prepared = moshi_torch.loss_targets(targets, c)
        with torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.bfloat16):
            loss = moshi_torch.loss(params, inputs, targets, c, prepared)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        sync()
        if step >= a.warmup:
            times.append((time.perf_counter() - t0) * 1000)
        losses.append(loss.item())
    median = statistics.median(times)
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else 0.0
    impl = "torch eager" if not a.compile_layers else "torch.compile per layer and per TTT mini-batch"
    print(json.dumps({"impl": impl + (" checkpointed layers" if a.checkpoint_layers else "") + (" tf32" if a.tf32 else ""),
                      "config": "tiny" if a.tiny else "moshi7b_ttt_multilayer", "device": a.device, "batch": B, "seq": S,
                      "step_ms": round(median, 1), "tokens_per_s": round(B * S / (median / 1000), 1),
                      "peak_gib": round(peak, 2), "last_loss": round(losses[-1], 4),
                      "params": sum(t.numel() for t in params.values()), "trainable": sum(t.numel() for t in trainable),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
