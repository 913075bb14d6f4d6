#!/usr/bin/env bash
# The fused scan alone at f32, TF32 and bf16 (ttt-scan-bench) beside fla's TTT-Linear scan
# (tools/reference/bench_fla_scan.py) on the same GPU, B 4 x 16 heads, L 2048, head dim 64, and a table.
#   bash bench/run_scan_bench.sh SCAN_BENCH_EXE [OUT.jsonl]
# fla comes from the wheels in .whl/ (fla_core-0.6.0, einops; carry .whl/), installed into a
# temporary folder; without them the fla rows are left out. fla's Triton autotuning takes minutes on
# first use: give this a device call of its own. (fla's chunk 64 in f32 asks for more shared memory
# than an H200 has, so at b 64 only its bf16 scan runs.)
set -uo pipefail
exe=$1
out=${2:-scan_bench.jsonl}
: > "$out"
fla_dir=$(mktemp -d)
trap 'rm -rf "$fla_dir"' EXIT
have_fla=0
if ls .whl/fla_core-*.whl > /dev/null 2>&1 &&
  python3 -m pip install -q --no-deps --target "$fla_dir" .whl/fla_core-*.whl .whl/einops-*.whl > /dev/null 2>&1; then
  have_fla=1
fi
common="--batch 4 --heads 16 --len 2048 --head-dim 64"
for s in "linear 16" "linear 64" "mlp 16" "mlp 64" "multilayer 64"; do
  read -r variant b <<< "$s"
  for p in f32 tf32 bf16; do
    "$exe" --variant "$variant" $common --mini-batch "$b" --precision "$p" >> "$out" || echo "ours failed: $variant b $b $p" >&2
  done
  if [ "$variant" = linear ] && [ $have_fla = 1 ]; then
    for p in tf32 bf16; do
      [ "$b" = 64 ] && [ "$p" = tf32 ] && continue
      (cd tools/reference && PYTHONPATH="$fla_dir" python3 bench_fla_scan.py $common --chunk "$b" --precision "$p") >> "$out" ||
        echo "fla failed: b $b $p" >&2
    done
  fi
done
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
table = {}
for r in rows:
    table.setdefault((r["variant"], r["mini_batch"]), {})[(r["impl"], r["precision"])] = r["median_ms"]
print("forward + backward ms (B 4 x 16 heads, L 2048, head dim 64); fla / ours at the same precision")
print(f"{'scan':16} {'f32':>8} {'tf32':>8} {'bf16':>8} {'fla tf32':>9} {'fla bf16':>9} {'fla/ours tf32':>14} {'fla/ours bf16':>14}")
for (v, b), g in table.items():
    ours = {p: g.get(("ttt.cpp fused scan", p)) for p in ("f32", "tf32", "bf16")}
    fla = {p: g.get(("fla chunk_ttt_linear", p)) for p in ("tf32", "bf16")}
    cell = lambda x: f"{x:.2f}" if x else "-"
    ratio = lambda p: f"{fla[p] / ours[p]:.2f}x" if fla[p] and ours[p] else "-"
    print(f"{v + ' b' + str(b):16} {cell(ours['f32']):>8} {cell(ours['tf32']):>8} {cell(ours['bf16']):>8} "
          f"{cell(fla['tf32']):>9} {cell(fla['bf16']):>9} {ratio('tf32'):>14} {ratio('bf16'):>14}")
PY
