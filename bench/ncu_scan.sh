#!/usr/bin/env bash
# Nsight Compute on the fused scan's two kernels (forward, then backward) in the TTT-MLP layer
# benchmark (B4 L2048 C1024 H16, mini-batch 64): throughput, occupancy, stall reasons, and the
# per-source-line view (scan_cuda.cu is built with -lineinfo).
#   bash bench/ncu_scan.sh OUT_DIR [extra ttt-layer-bench args]
# Writes OUT_DIR/scan.ncu-rep, details.txt (every section, every metric), source_{fwd,bwd}.csv and
# lines_{fwd,bwd}.txt (bench/ncu_lines.py: warp-stall samples per source line).
set -uo pipefail
out=$1; shift
mkdir -p "$out"
export LD_LIBRARY_PATH=$PWD/device-bundle/lib
ncu --kernel-name regex:scan_kernel --launch-count 2 --set full --import-source yes -f -o "$out/scan" \
  device-bundle/bin/ttt-layer-bench --variant mlp --batch 4 --len 2048 --width 1024 --heads 16 --mini-batch 64 \
  --device cuda --kernel 1 --reps 1 --warmup 0 "$@" > "$out/ncu_run.log" 2>&1 || { tail -20 "$out/ncu_run.log"; exit 1; }
ncu -i "$out/scan.ncu-rep" --page details --print-details all > "$out/details.txt" 2>&1
for k in 0 1; do
  name=$([ $k = 0 ] && echo fwd || echo bwd)
  ncu -i "$out/scan.ncu-rep" --page source --csv --print-source cuda,sass --launch-skip $k --launch-count 1 \
    > "$out/source_$name.csv" 2>&1 || echo "source page failed for $name"
  python3 bench/ncu_lines.py "$out/source_$name.csv" 60 > "$out/lines_$name.txt"
  gzip -f "$out/source_$name.csv"
done
rm -f "$out/scan.ncu-rep"  # large; rerun to inspect in the GUI
ls -la "$out"
