#!/usr/bin/env bash
# Moshi 7B's real shapes on one GPU: configs/moshi7b_ttt_multilayer.yaml with random weights (no
# checkpoint download on the GPU machine), random 17-stream tokens, a few steps with the frozen
# base in bf16 and bf16 activations; prints the memory estimate, the steps and the allocator's peak.
#   bash bench/moshi7b_smoke.sh [SEQ_LEN] [STEPS] [KEY=VALUE...]   (device bundle unpacked, as
#   bench/device_session.sh; the overrides go to ttt-train, e.g. model.checkpoint_layers=true)
set -euo pipefail
seq=${1:-512}
steps=${2:-4}
shift $(( $# < 2 ? $# : 2 ))
export LD_LIBRARY_PATH=$PWD/device-bundle/lib
work=$(mktemp -d)
pid=
# However the script ends (Ctrl-C, a failed grep under set -e): the run goes (a background job of a
# script ignores SIGINT, so it would go on alone) and so does the temporary folder.
trap '[[ -n $pid ]] && kill -9 "$pid" 2> /dev/null; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
python3 - "$work/tokens.tok" <<'PY'
import struct, sys, random
random.seed(0)
steps, streams = 40000, 17
with open(sys.argv[1], "wb") as f:
    f.write(b"TTTTOKNS" + struct.pack("<IIII", 1, streams, 2, 0) + struct.pack("<Q", steps))
    vocab = [32000] + [2048] * 16
    f.write(struct.pack(f"<{steps * streams}H", *(random.randrange(vocab[i % streams]) for i in range(steps * streams))))
PY
sed '/init_from/d' configs/moshi7b_ttt_multilayer.yaml > "$work/moshi7b.yaml"
# The final checkpoint (the whole 8B model and AdamW state, about 20 GB) costs minutes of device
# time and measures nothing here: with SMOKE_SKIP_FINAL_CHECKPOINT=1 the run is killed once its last
# step's line is out (the run directory is a temporary one, removed below).
SECONDS=0
device-bundle/bin/ttt-train --config "$work/moshi7b.yaml" data.path="$work/tokens.tok" run.run_dir="$work/run" \
  run.seq_len="$seq" run.max_steps="$steps" run.log_freq=1 run.eval_freq=0 run.eval_batches=1 run.num_ckpt_keep=1 \
  trainable.frozen_dtype=bf16 run.activations=bf16 \
  'trainable.rules=[{name: "**", train: false}, {name: "**.ttt.**", train: true}, {name: "**.forward_ssm_gating.**", train: true}]' \
  "$@" > "$work/out.log" 2>&1 &
pid=$!
while kill -0 "$pid" 2> /dev/null; do
  # (with TTT_PROFILE the report comes after the last step's line: wait for its kernel list)
  if [[ ${SMOKE_SKIP_FINAL_CHECKPOINT:-0} == 1 ]] && grep -q "^step $steps/$steps " "$work/out.log" &&
    { [[ -z ${TTT_PROFILE:-} ]] || grep -q "^most expensive kernels" "$work/out.log"; }; then
    if [[ -n ${TTT_PROFILE:-} ]]; then sleep 1; fi
    kill -9 "$pid"
    echo "(killed after step $steps: no final checkpoint)"
    break
  fi
  sleep 0.5
done
wait "$pid" 2> /dev/null || true  # 137 when killed above
pid=
grep -E "memory estimate|trainable 3|^step|eval|done|error|refused" "$work/out.log" || true
if [[ -n ${TTT_PROFILE:-} ]]; then sed -n '/^profile over/,$p' "$work/out.log"; fi
echo "wall ${SECONDS} s"
