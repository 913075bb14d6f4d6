#!/usr/bin/env bash
# The Moshi 7B fine-tuning step (configs/moshi7b_ttt_multilayer.yaml: the Moshi part frozen in bf16,
# five TTT-MultiLayer branches trained, bf16 activations) ours beside its PyTorch twin
# (tools/reference/bench_moshi7b_torch.py: autocast bf16, SDPA, fused AdamW, the TTT layers in f32),
# random weights and tokens, one H200. Each phase fits one device call:
#   bash bench/moshi7b_bench.sh ours SEQ [KEY=VALUE...]    ttt-train, 6 steps (bench/moshi7b_smoke.sh)
#   bash bench/moshi7b_bench.sh torch SEQ [FLAGS...]       the twin: eager, or --compile-layers,
#                                                          --checkpoint-layers
# (device bundle unpacked, as bench/device_session.sh; torch is the device's own).
set -uo pipefail
phase=${1:?ours or torch}
seq=${2:-2048}
shift $(( $# < 2 ? $# : 2 ))
case $phase in
ours) SMOKE_SKIP_FINAL_CHECKPOINT=1 bash bench/moshi7b_smoke.sh "$seq" 6 "$@" ;;
torch) (cd tools/reference && timeout "${BENCH_TIMEOUT:-580}" python3 bench_moshi7b_torch.py --seq "$seq" "$@") ;;
*) echo "unknown phase $phase (ours, torch)" >&2; exit 2 ;;
esac
