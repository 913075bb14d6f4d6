#!/usr/bin/env bash
# Runs the TTT layer benchmark for ttt.cpp and PyTorch (eager, and torch.compile unless
# NO_COMPILE=1) at the same sizes on the same GPU, and prints a table of ratios. ONE_BLOCK=1 adds
# the fused kernel with one block per sequence (--cluster 1; the default uses a cluster of two
# where twice the sequences fit on the SMs); PER_STEP=1 adds it with one barrier per step instead
# of one per group of independent steps (--shared-barriers 0; shared barriers are the default).
# PRECISION=tf32: both sides' matrix products in TF32 (ours: the projections and the fused scan's
# tensor-core products; PyTorch: allow_tf32), f32 by default.
#   bash bench/run_ttt_bench.sh BENCH_EXE [OUT.jsonl]
# On the GPU machine: LD_LIBRARY_PATH=$PWD/device-bundle/lib bash bench/run_ttt_bench.sh device-bundle/bin/ttt-layer-bench
set -uo pipefail
exe=$1
out=${2:-bench_results.jsonl}
: > "$out"
sizes=("mlp 4 2048 1024 16 64" "mlp 4 2048 1024 16 16" "linear 4 2048 1024 16 64" "multilayer 4 2048 1024 16 64")
for s in "${sizes[@]}"; do
  read -r variant B L C H b <<< "$s"
  args="--variant $variant --batch $B --len $L --width $C --heads $H --mini-batch $b --precision ${PRECISION:-f32}"
  "$exe" $args --device cuda --kernel 1 >> "$out" || echo "ttt.cpp kernel failed: $args" >&2
  "$exe" $args --device cuda --kernel 0 >> "$out" || echo "ttt.cpp composed failed: $args" >&2
  if [ "${ONE_BLOCK:-0}" = 1 ]; then
    "$exe" $args --device cuda --kernel 1 --cluster 1 >> "$out" || echo "ttt.cpp kernel 1 block failed: $args" >&2
  fi
  if [ "${PER_STEP:-0}" = 1 ]; then
    "$exe" $args --device cuda --kernel 1 --shared-barriers 0 >> "$out" || echo "ttt.cpp kernel per-step barriers failed: $args" >&2
  fi
  (cd tools/reference && python3 bench_ttt_torch.py $args) >> "$out" || echo "torch eager failed: $args" >&2
  # torch.compile at mini-batch 16 did not finish compiling in several minutes (docs/performance.md): skipped
  # unless COMPILE_SMALL=1.
  if [ "${NO_COMPILE:-0}" != 1 ] && { [ "$b" -ge 64 ] || [ "${COMPILE_SMALL:-0}" = 1 ]; }; then
    (cd tools/reference && timeout "${COMPILE_TIMEOUT:-240}" python3 bench_ttt_torch.py $args --compile) >> "$out" || echo "torch.compile failed or timed out: $args" >&2
  fi
done
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
key = lambda r: (r["variant"], r["batch"], r["len"], r["width"], r["heads"], r["mini_batch"], r.get("precision", "f32"))
groups = {}
for r in rows:
    groups.setdefault(key(r), {})[r["impl"]] = r
print("ratios: PyTorch time / ttt.cpp kernel time (higher is better); peak: ttt.cpp kernel / eager")
print(f"{'config':34} {'kernel ms':>10} {'1 block':>9} {'per-step':>9} {'composed':>9} {'eager ms':>9} {'compile ms':>10} {'vs eager':>9} {'vs compile':>10} {'TFLOP/s':>8} {'peak MiB ours/eager':>20} {'fwd ms ours/eager':>18}")
for k, g in groups.items():
    ours, comp_ours, eager, comp = g.get("ttt.cpp kernel"), g.get("ttt.cpp composed"), g.get("torch eager"), g.get("torch.compile")
    one_block, per_step = g.get("ttt.cpp kernel 1 block"), g.get("ttt.cpp kernel per-step barriers")
    name = f"{k[0]} B{k[1]} L{k[2]} C{k[3]} H{k[4]} b{k[5]} {k[6]}"
    ms = lambda r: f"{r['median_ms']:.2f}" if r else "-"
    ratio = lambda r: f"{r['median_ms'] / ours['median_ms']:.2f}x" if r and ours else "-"
    peak = f"{ours['peak_mib']:.0f}/{eager['peak_mib']:.0f}" if ours and eager else "-"
    tf = f"{ours['tflops']:.2f}" if ours else "-"
    fwd = f"{ours['forward_ms']:.1f}/{eager['forward_ms']:.1f}" if ours and eager and "forward_ms" in ours and "forward_ms" in eager else "-"
    print(f"{name:34} {ms(ours):>10} {ms(one_block):>9} {ms(per_step):>9} {ms(comp_ours):>9} {ms(eager):>9} {ms(comp):>10} {ratio(eager):>9} {ratio(comp):>10} {tf:>8} {peak:>20} {fwd:>18}")
PY
