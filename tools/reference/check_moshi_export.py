"""Loads a `ttt-export --format moshi` folder into the official package's LMModel and checks it.

The export of a run started from a fixture's checkpoint with the Moshi part frozen (the
MoshiTrain test keeps one when TTT_MOSHI_EXPORT_DIR is set) must load strictly into LMModel built
from the export's config.json, and give the fixture's text and audio logits for its codes:

    python3 tools/reference/check_moshi_export.py EXPORT_DIR tests/fixtures/moshi_7b_options.safetensors

Prints the largest relative differences; exits 1 above 1e-5.
"""

import json
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from moshi.models.lm import LMModel


def relative(ours, theirs, mask):
    mask = mask.bool()
    diff = (ours - theirs).abs()[mask].max()
    return (diff / theirs.abs()[mask].max()).item()


def main(export_dir, fixture_path):
    with open(f"{export_dir}/config.json") as f:
        options = json.load(f)
    model = LMModel(**options).float().eval()
    state = load_file(f"{export_dir}/model.safetensors")
    model.load_state_dict(state, strict=True)  # every name and shape, nothing extra
    fixture = load_file(fixture_path)
    with safe_open(fixture_path, "pt") as f:
        fixture_options = json.loads(f.metadata()["options"])
    for key, value in fixture_options.items():  # the export's options are the fixture's
        if key in options and options[key] != value:
            print(f"option {key}: export {options[key]!r}, fixture {value!r}")
    with torch.no_grad():
        out = model(fixture["codes"])
    text = relative(torch.nan_to_num(out.text_logits), fixture["text_logits"], fixture["text_mask"][..., None].expand_as(out.text_logits))
    audio = relative(torch.nan_to_num(out.logits), fixture["audio_logits"], fixture["audio_mask"][..., None].expand_as(out.logits))
    print(f"{export_dir}: {len(state)} tensors loaded strictly into LMModel; text logits {text:.2e}, "
          f"audio logits {audio:.2e} relative to the fixture's")
    return 0 if max(text, audio) <= 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
