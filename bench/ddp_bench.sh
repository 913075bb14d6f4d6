#!/usr/bin/env bash
# Data parallelism on the 2-GPU machine (docs/performance.md "Several GPUs"): configs/small_gpu.yaml's
# step on 1 and 2 GPUs, f32 and bf16 (run.activations=bf16, gradients summed in bf16), ours
# (ttt-train without and with run.cuda_graph on both counts; the gradients' all-reduce overlapped
# with backward, and after it) beside PyTorch's twin (tools/reference/bench_model_torch.py) alone and under
# DistributedDataParallel (torchrun), eager and autocast bf16; and ZeRO-1 (run.shard_optimizer).
#   bash bench/ddp_bench.sh [STEPS]          (device bundle unpacked, as bench/device_session.sh)
set -uo pipefail
steps=${1:-30}
export LD_LIBRARY_PATH=$PWD/device-bundle/lib
train() {  # train LABEL OVERRIDES...
  local label=$1
  shift
  echo "== ttt-train $label"
  timeout 200 device-bundle/bin/ttt-train --config configs/small_gpu.yaml run.max_steps="$steps" run.log_freq=10 run.eval_freq=0 \
    run.eval_batches=1 run.cuda_graph=false schedule.warmup_steps=5 "$@" run.run_dir="$(mktemp -d)/run" 2>&1 |
    grep -E "^step $steps/|gradient all-reduce|memory estimate|sharded|error"
}
for precision in f32 bf16; do
  p="run.activations=$precision"
  train "$precision, 1 GPU" "$p" run.device=cuda:0
  train "$precision, 2 GPUs, overlapped" "$p" "run.devices=[0,1]" run.reduce_dtype="$precision"
  train "$precision, 2 GPUs, after backward" "$p" "run.devices=[0,1]" run.reduce_dtype="$precision" run.overlap_reduce=false
  train "$precision, 1 GPU, CUDA graph" "$p" run.device=cuda:0 run.cuda_graph=true
  train "$precision, 2 GPUs, overlapped, CUDA graph" "$p" "run.devices=[0,1]" run.reduce_dtype="$precision" run.cuda_graph=true
done
train "f32, 2 GPUs, overlapped, AdamW state sharded (ZeRO-1)" "run.devices=[0,1]" run.shard_optimizer=true
cd tools/reference || exit 1
for flag in "" "--autocast-bf16"; do
  echo "== PyTorch eager $flag, 1 GPU"
  timeout 200 python3 bench_model_torch.py --steps 10 $flag 2>&1 | tail -1
  echo "== PyTorch eager $flag, DDP on 2 GPUs"
  timeout 200 torchrun --standalone --nproc-per-node 2 bench_model_torch.py --ddp --steps 10 $flag 2>&1 | grep -E '^\{|Error' | tail -2
done
