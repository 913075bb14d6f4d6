#!/usr/bin/env bash
# Streaming generation speed on the GPU (docs/performance.md): ttt-generate on Moshi 7B's shape with
# random weights in bf16, with and without the five TTT branches of
# configs/moshi7b_ttt_multilayer.yaml, beside the official LMGen on the same shape (carry .whl/),
# and on configs/small_gpu.yaml; batch 1 and 8; each as a CUDA graph (the default), eager, and the
# graph with cuBLAS for the few-row products too.
#   bash bench/generate_bench.sh [STEPS]     (device bundle unpacked, as bench/device_session.sh)
# BATCHES (default "1 8"), MODES (default "graph eager cublas"), PROFILE=0 (no TTT_PROFILE run)
# and GENERATE (the ttt-generate to run)
# narrow it, e.g. the whole of Moshi's context at batch 1:
#   BATCHES=1 MODES=graph PROFILE=0 bash bench/generate_bench.sh 3000
set -uo pipefail
steps=${1:-40}
batches=${BATCHES:-1 8}
modes=${MODES:-graph eager cublas}
export LD_LIBRARY_PATH=$PWD/device-bundle/lib
generate=${GENERATE:-device-bundle/bin/ttt-generate}  # another build's, to compare two
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed '/hybrid_layers/d' configs/moshi7b_ttt_multilayer.yaml > "$work/moshi7b_plain.yaml"
for batch in $batches; do
  for cfg in configs/moshi7b_ttt_multilayer.yaml "$work/moshi7b_plain.yaml" configs/small_gpu.yaml; do
    echo "== ttt-generate $(basename "$cfg") batch $batch"
    for mode in $modes; do  # cublas: the graph with every product on cuBLAS (no core/cuda/small_matmul.cu)
      echo "-- $mode"
      TTT_SMALL_MATMUL=$([ $mode = cublas ] && echo 0 || echo 1) timeout 300 "$generate" --config "$cfg" \
        --dtype bf16 --device cuda --steps "$steps" --batch "$batch" $([ $mode = eager ] && echo --eager) 2>&1 |
        grep -E "steps/s|error"
    done
  done
  if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl 2>/dev/null
    echo "== LMGen batch $batch"
    PYTHONPATH=/tmp/site timeout 300 python3 bench/lmgen_bench.py "$batch" "$steps" 2>&1 | tail -1
  fi
done

[ "${PROFILE:-1}" = 0 ] && exit 0
echo "== where a step's time goes: TTT_PROFILE=1, Moshi 7B shape with TTT branches, batch 1"

TTT_PROFILE=1 timeout 300 "$generate" --config configs/moshi7b_ttt_multilayer.yaml --dtype bf16 --device cuda \
  --steps "$steps" --batch 1 2>&1 | grep -vE "^[0-9 ]+$" | head -45
