#!/usr/bin/env bash
# Data parallelism on the 2-GPU machine (docs/performance.md "Several GPUs"): configs/small_gpu.yaml's
# step, f32, on 1 and 2 GPUs, ours (ttt-train, run.cuda_graph off on both counts) beside PyTorch's
# twin (tools/reference/bench_model_torch.py) alone and under DistributedDataParallel (torchrun).
#   bash bench/ddp_bench.sh [STEPS]          (device bundle unpacked, as bench/device_session.sh)
set -uo pipefail
steps=${1:-30}
export LD_LIBRARY_PATH=$PWD/device-bundle/lib
for d in "run.device=cuda:0" "run.devices=[0,1]"; do
  echo "== ttt-train $d"
  timeout 200 device-bundle/bin/ttt-train --config configs/small_gpu.yaml run.max_steps="$steps" run.log_freq=10 run.eval_freq=0 \
    run.eval_batches=1 run.cuda_graph=false schedule.warmup_steps=5 "$d" run.run_dir="$(mktemp -d)/run" 2>&1 |
    grep -E "^step $steps/|error"
done
cd tools/reference || exit 1
echo "== PyTorch eager, 1 GPU"
timeout 200 python3 bench_model_torch.py --steps 10 2>&1 | tail -1
echo "== PyTorch eager, DDP on 2 GPUs"
timeout 200 torchrun --standalone --nproc-per-node 2 bench_model_torch.py --ddp --steps 10 2>&1 | grep -E '^\{|Error' | tail -2
