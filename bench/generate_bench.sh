#!/usr/bin/env bash
# Streaming generation speed on the GPU (docs/performance.md): ttt-generate on Moshi 7B's shape with
# random weights in bf16, with and without the five TTT branches of
# configs/moshi7b_ttt_multilayer.yaml, beside the official LMGen on the same shape (carry .whl/),
# and on configs/small_gpu.yaml; batch 1 and 8; each as a CUDA graph (the default), eager, and the
# graph with cuBLAS for the few-row products too.
#   bash bench/generate_bench.sh [STEPS]     (device bundle unpacked, as bench/device_session.sh)
set -uo pipefail
steps=${1:-40}
export LD_LIBRARY_PATH=$PWD/device-bundle/lib
work=$(mktemp -d)
sed '/hybrid_layers/d' configs/moshi7b_ttt_multilayer.yaml > "$work/moshi7b_plain.yaml"
for batch in 1 8; do
  for cfg in configs/moshi7b_ttt_multilayer.yaml "$work/moshi7b_plain.yaml" configs/small_gpu.yaml; do
    echo "== ttt-generate $(basename "$cfg") batch $batch"
    for mode in graph eager cublas; do  # cublas: the graph with every product on cuBLAS (no core/cuda/small_matmul.cu)
      echo "-- $mode"
      TTT_SMALL_MATMUL=$([ $mode = cublas ] && echo 0 || echo 1) timeout 300 device-bundle/bin/ttt-generate --config "$cfg" \
        --dtype bf16 --device cuda --steps "$steps" --batch "$batch" $([ $mode = eager ] && echo --eager) 2>&1 |
        grep -E "steps/s|error"
    done
  done
  if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl 2>/dev/null
    echo "== LMGen batch $batch"
    PYTHONPATH=/tmp/site timeout 300 python3 bench/lmgen_bench.py "$batch" 100 2>&1 | tail -1
  fi
done

echo "== where a step's time goes: TTT_PROFILE=1, Moshi 7B shape with TTT branches, batch 1"

TTT_PROFILE=1 timeout 300 device-bundle/bin/ttt-generate --config configs/moshi7b_ttt_multilayer.yaml --dtype bf16 --device cuda \
  --steps "$steps" --batch 1 2>&1 | grep -vE "^[0-9 ]+$" | head -45
rm -rf "$work"
