"""Fixtures from the official `moshi` package (Kyutai's LMModel), for ttt.cpp's Moshi parity tests.

Builds a small LMModel with the option set of Moshi 7B (moshi.models.loaders._lm_kwargs: RMSNorm in
f32 with its `alpha` weight, silu gating, RoPE, causal context 3000, a depformer with one input
projection per codebook, weights per step, no positional embedding, 17 streams with Moshi's delays)
at small widths, with random weights, and a second variant with other per-stream delays, a
depformer weight schedule and a context shorter than the sequence. For a token tensor it saves:

  param.<name>        the model's state dict, under Moshi's own names (f32)
  codes               [B, 17, T] i64: text, 8 model audio codebooks, 8 user audio codebooks;
                      -1 (Moshi's zero token) marks steps with no token: no input, no loss
  text_logits         [B, 1, T, text_card] f32 (teacher-forced, re-aligned to `codes`; 0 where masked)
  text_mask           [B, 1, T] i64: 1 where the text logit has a target
  audio_logits        [B, dep_q, T, card] f32 (the depformer's, teacher-forced; 0 where masked)
  audio_mask          [B, dep_q, T] i64
  text_loss, audio_loss, loss   scalars (f64): the moshi-finetune weighting, see masked_loss()

and in the metadata: the generator, the moshi and torch versions, the LMModel options (JSON), the
loss weights and padding ids; moshi_7b_options also holds Moshi 7B's own options and the parameter
count of the LMModel the package builds from them (on the meta device: nothing is allocated). Runs on the CPU in f32 (deterministic); the GPU machine has torch (carry the moshi
wheel: tools/reference/README.md).

    python3 tools/reference/make_moshi_fixtures.py tests/fixtures
"""

import json
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

import moshi
from moshi.models.lm import LMModel
from moshi.models.loaders import _lm_kwargs

# Moshi 7B's options (moshi.models.loaders._lm_kwargs), widths made small.
SMALL_7B = {
    "dim": 32,
    "text_card": 32,
    "existing_text_padding_id": 3,
    "n_q": 16,
    "dep_q": 8,
    "card": 16,
    "num_heads": 4,
    "num_layers": 2,
    "hidden_scale": 4.125,
    "causal": True,
    "layer_scale": None,
    "context": 3000,
    "max_period": 10000,
    "gating": "silu",
    "norm": "rms_norm_f32",
    "positional_embedding": "rope",
    "depformer_dim": 16,
    "depformer_dim_feedforward": int(4.125 * 16),
    "depformer_num_heads": 2,
    "depformer_num_layers": 2,
    "depformer_layer_scale": None,
    "depformer_multi_linear": True,
    "depformer_context": 8,
    "depformer_max_period": 10000,
    "depformer_gating": "silu",
    "depformer_pos_emb": "none",
    "depformer_weights_per_step": True,
    "delays": [0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1],
}

# Other delays, a weight schedule for the depformer's steps, and a context shorter than T.
SHORT_CONTEXT = dict(
    SMALL_7B,
    context=5,
    delays=[0, 0, 2, 1, 1, 3, 1, 1, 2, 0, 1, 2, 1, 1, 3, 1, 1],
    depformer_weights_per_step_schedule=[0, 1, 1, 2, 2, 2, 3, 3],
)

# moshi-finetune's loss weighting (its defaults as used for Moshi fine-tunes).
FIRST_CODEBOOK_WEIGHT = 100.0
TEXT_PADDING_WEIGHT = 0.5


def masked_loss(logits, target, mask, weights):
    """Cross-entropy over the positions with a target, each weighted: sum(w * ce) / sum(w)."""
    w = weights * mask.float()
    safe_target = torch.where(mask, target, torch.zeros_like(target))
    safe_logits = logits.masked_fill(~mask[..., None], 0)  # masked positions hold NaN (moshi's undelay)
    ce = F.cross_entropy(safe_logits.reshape(-1, logits.shape[-1]).double(), safe_target.reshape(-1), reduction="none")
    w = w.reshape(-1).double()
    return (ce * w).sum() / w.sum()


def make(name, options, batch, steps, seed):
    torch.manual_seed(seed)
    model = LMModel(**options).float().eval()
    with torch.no_grad():
        # random values everywhere, norms' alpha around 1, so every parameter shapes the output
        for pname, p in model.named_parameters():
            if pname.endswith("alpha"):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) / max(1, p.shape[-1]) ** 0.5)
    k = model.num_codebooks
    codes = torch.empty(batch, k, steps, dtype=torch.long)
    codes[:, 0] = torch.randint(0, options["text_card"], (batch, steps))
    codes[:, 1:] = torch.randint(0, options["card"], (batch, k - 1, steps))
    codes[:, 0, ::4] = options["existing_text_padding_id"]  # text padding, weighted down in the loss
    codes[:, 0, 2::5] = model.end_of_text_padding_id  # the end of padding, weighted down too
    codes[0, 3, 2] = -1  # steps with no token: no input there, no loss
    codes[-1, 1, steps - 3] = -1
    with torch.no_grad():
        out = model(codes)
    dep_q = options["dep_q"]
    audio_target = codes[:, 1 : 1 + dep_q]
    audio_w = torch.ones_like(out.mask, dtype=torch.float)
    audio_w[:, 0] *= FIRST_CODEBOOK_WEIGHT
    text_target = codes[:, :1]
    text_w = torch.ones_like(out.text_mask, dtype=torch.float)
    # moshi-finetune weighs both of the model's padding ids down
    text_padding_ids = [model.text_padding_token_id, model.end_of_text_padding_id]
    for pad in set(text_padding_ids):
        text_w[text_target == pad] *= TEXT_PADDING_WEIGHT
    audio_loss = masked_loss(out.logits, audio_target, out.mask, audio_w)
    text_loss = masked_loss(out.text_logits, text_target, out.text_mask, text_w)
    tensors = {"param." + n: t.detach().contiguous() for n, t in model.state_dict().items()}
    tensors["codes"] = codes
    tensors["text_logits"] = torch.nan_to_num(out.text_logits.masked_fill(~out.text_mask[..., None], 0)).contiguous()
    tensors["text_mask"] = out.text_mask.long()
    tensors["audio_logits"] = torch.nan_to_num(out.logits.masked_fill(~out.mask[..., None], 0)).contiguous()
    tensors["audio_mask"] = out.mask.long()
    tensors["text_loss"] = text_loss.reshape(())
    tensors["audio_loss"] = audio_loss.reshape(())
    tensors["loss"] = (text_loss + audio_loss).reshape(())
    meta = {
        "generator": "tools/reference/make_moshi_fixtures.py",
        "moshi": moshi.__version__,
        "torch": torch.__version__,
        "options": json.dumps(options),
        "first_codebook_weight": str(FIRST_CODEBOOK_WEIGHT),
        "text_padding_weight": str(TEXT_PADDING_WEIGHT),
        "text_padding_ids": json.dumps(text_padding_ids),
        "loss": "text_loss + audio_loss, each sum(w * ce) / sum(w) over positions with a target",
    }
    return name, tensors, meta


def moshi_7b():
    """Moshi 7B's options and its parameter count, as the package builds it (on the meta device)."""
    with torch.device("meta"):
        model = LMModel(**_lm_kwargs)
    return {"moshi_7b_options": json.dumps(_lm_kwargs), "moshi_7b_parameters": str(sum(p.numel() for p in model.parameters()))}


def main(out_dir):
    for name, tensors, meta in [
        make("moshi_7b_options", SMALL_7B, batch=2, steps=10, seed=0),
        make("moshi_short_context", SHORT_CONTEXT, batch=2, steps=14, seed=1),
    ]:
        if name == "moshi_7b_options":
            meta.update(moshi_7b())
        path = f"{out_dir}/{name}.safetensors"
        save_file(tensors, path, metadata=meta)
        n = sum(t.numel() for k, t in tensors.items() if k.startswith("param."))
        print(f"{path}: {n} parameters, loss {tensors['loss'].item():.6f} "
              f"(text {tensors['text_loss'].item():.6f}, audio {tensors['audio_loss'].item():.6f})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures")
