"""The official package's streaming generator (moshi.models.lm.LMGen) on Moshi 7B's shape with
random weights, in bf16 on the GPU: steps per second at a batch size, for docs/performance.md's
comparison with `ttt-generate --config configs/moshi7b_ttt_multilayer.yaml --dtype bf16`.

    PYTHONPATH=/tmp/site python3 bench/lmgen_bench.py BATCH STEPS

Prints one JSON line. LMGen replays CUDA graphs of its temporal and depformer steps; the user's
audio codebooks are fed as zeros.
"""

import json
import sys
import time

import torch

from moshi.models.lm import LMGen, LMModel
from moshi.models.loaders import _lm_kwargs


def main(batch, steps, warmup=3):
    torch.manual_seed(0)
    lm = LMModel(**_lm_kwargs, device="cuda", dtype=torch.bfloat16).eval()
    gen = LMGen(lm)
    user = torch.zeros(batch, lm.num_codebooks - lm.dep_q - 1, 1, dtype=torch.long, device="cuda")
    with torch.no_grad(), gen.streaming(batch):
        for _ in range(warmup):
            gen.step(user)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(steps):
            gen.step(user)
        torch.cuda.synchronize()
        secs = time.perf_counter() - t0
    print(json.dumps({"impl": "LMGen", "moshi": __import__("moshi").__version__, "torch": torch.__version__, "batch": batch,
                      "steps": steps, "steps_per_s": round(steps / secs, 2), "ms_per_step": round(1000 * secs / steps, 3),
                      "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
