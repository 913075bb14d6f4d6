#!/usr/bin/env bash
# The training-step benchmark of configs/small_gpu.yaml: ttt-train (composed scan, then the fused
# scan) against tools/reference/bench_model_torch.py (PyTorch eager, explicit attention and SDPA),
# same model sizes, f32, batch 4 x 2048. Our figure is ttt-train's own tokens/s over steps 11-20 (a whole step: data, forward, backward, clipping, AdamW, the per-step loss read);
# PyTorch's is the median step of 10 after 3 warm-up steps.
#   bash bench/run_model_bench.sh TTT_TRAIN_EXE [OUT.jsonl]
# COMPILE=1 adds torch.compile of the whole loss, COMPILE_LAYERS=1 torch.compile of each layer
# (COMPILE_TIMEOUT seconds each, default 400; COMPILE_ARGS=--sdpa compiles the SDPA variant). TTT_ARGS
# adds overrides to both ttt-train runs (e.g. ttt.scan_checkpoint_group=0: keep every scan state, as
# PyTorch does). PyTorch eager runs twice: the twin's explicit attention, and with --sdpa
# (F.scaled_dot_product_attention, what a PyTorch user would write).
# TF32 on both sides: TTT_ARGS="ttt.scan_checkpoint_group=0 run.matmul_precision=tf32" TORCH_ARGS=--tf32.
# A quick check of the script on the CPU: CONFIG=configs/tiny.yaml TORCH_ARGS="--tiny --device cpu" ...
set -uo pipefail
exe=$1
out=${2:-model_bench.jsonl}
: > "$out"
# composed scan, fused scan, and the fused scan without the CUDA graph (configs/small_gpu.yaml turns
# run.cuda_graph on; on the CPU the config leaves it off, and the third run is the second again)
for variant in "false" "true" "true run.cuda_graph=false"; do
  set -- $variant
  kernel=$1
  log=$(mktemp)
  "$exe" --config "${CONFIG:-configs/small_gpu.yaml}" run.max_steps=20 run.log_freq=10 run.eval_freq=0 run.ckpt_freq=0 schedule.warmup_steps=5 \
    run.run_dir="$(mktemp -d)" ttt.use_kernel=$kernel ${TTT_ARGS:-} ${2:-} > "$log" 2>&1 || { echo "ttt-train failed ($variant):" >&2; tail -5 "$log" >&2; }
  python3 - "$log" "$kernel" "${2:-}" >> "$out" <<'PY'
import json, re, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("step ")]
last = lines[-1]
tok = float(re.search(r"([0-9.]+) tok/s", last).group(1))
gpu = re.search(r"gpu [0-9.]+/([0-9.]+) MiB", last)
peak = float(gpu.group(1)) if gpu else 0.0
loss = float(re.search(r"loss ([0-9.]+)", last).group(1))
impl = ("ttt.cpp fused scan" if sys.argv[2] == "true" else "ttt.cpp composed") + (", no graph" if sys.argv[3] else "")
print(json.dumps({"impl": impl, "tokens_per_s": tok,
                  "peak_mib": peak, "last_loss": loss}))
PY
  rm -f "$log"
done
for attn in "" --sdpa; do
  (cd tools/reference && python3 bench_model_torch.py ${TORCH_ARGS:-} $attn) >> "$out" || echo "torch eager $attn failed" >&2
done
for mode in ${COMPILE:+--compile} ${COMPILE_LAYERS:+--compile-layers}; do
  (cd tools/reference && timeout "${COMPILE_TIMEOUT:-400}" python3 bench_model_torch.py ${TORCH_ARGS:-} $mode ${COMPILE_ARGS:-}) \
    >> "$out" || echo "torch $mode ${COMPILE_ARGS:-} failed or timed out" >&2
done
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
eager = next((r for r in rows if r["impl"].startswith("torch eager") and "sdpa" not in r["impl"]), None)
# the same counted FLOPs per step for every row (tools/reference/bench_model_torch.py: step_flops)
gflop = next((r["gflop_per_step"] for r in rows if "gflop_per_step" in r), None)
tokens_per_step = eager["tokens_per_s"] * eager["step_ms"] / 1000 if eager else None
print(f"{'impl':30} {'tokens/s':>10} {'TFLOP/s':>8} {'peak MiB':>9} {'tokens/s vs eager':>18}")
for r in rows:
    ratio = f"{r['tokens_per_s'] / eager['tokens_per_s']:.2f}x" if eager else "-"
    tf = f"{gflop / 1e3 * r['tokens_per_s'] / tokens_per_step:.2f}" if gflop and tokens_per_step else "-"
    print(f"{r['impl']:30} {r['tokens_per_s']:>10.0f} {tf:>8} {r['peak_mib']:>9.0f} {ratio:>18}")
PY
