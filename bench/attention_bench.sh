#!/usr/bin/env bash
# The attention op alone (forward + backward, docs/performance.md "Flash attention"): ours, flash
# and composed, beside PyTorch's scaled_dot_product_attention, at Moshi 7B's shape (32 heads of
# 128, context 3000) and small_gpu.yaml's (12 heads of 64, 2048), causal and with a window, in each
# mode of MODES (default "bf16 f32 tf32": bf16 tensors; f32 tensors with f32 products; f32 tensors
# with TF32 products on both sides).
#   [MODES=f32] bash bench/attention_bench.sh          (device bundle unpacked, as bench/device_session.sh)
set -uo pipefail
export LD_LIBRARY_PATH=$PWD/device-bundle/lib
for mode in ${MODES:-bf16 f32 tf32}; do
  case $mode in
    bf16) ours="--dtype bf16" torch="--dtype bf16" ;;
    f32) ours="--dtype f32" torch="--dtype f32" ;;
    tf32) ours="--dtype f32 --precision tf32" torch="--dtype f32 --tf32" ;;
    *) echo "attention_bench.sh: unknown mode '$mode' (bf16, f32 or tf32)" >&2 && exit 2 ;;
  esac
  for shape in "--batch 1 --heads 32 --len 3000 --dim 128" "--batch 4 --heads 12 --len 2048 --dim 64"; do
    for window in 0 750; do
      for impl in flash composed; do
        timeout 120 device-bundle/bin/ttt-attention-bench $shape --window $window --impl $impl $ours
      done
      timeout 120 python3 tools/reference/bench_attention_torch.py $shape --window $window $torch
    done
  done
done
