#!/usr/bin/env bash
# Builds the libFuzzer targets (preset "fuzz": clang, AddressSanitizer + UBSan) and runs each for
# a bounded time.   bash tools/fuzz.sh [SECONDS_PER_TARGET=60]
# Seeds come from fuzz/corpus/<target> and fuzz/regressions/<target>; a crashing input is written
# to fuzz/crashes/ and the script fails. Keep a fixed crash's input in fuzz/regressions/<target>/:
# tests/train/test_fuzz_regressions.cpp replays all of them in the normal test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
cmake --preset fuzz > /dev/null
cmake --build --preset fuzz --target fuzz_config fuzz_safetensors fuzz_tokens fuzz_moshi_options
mkdir -p fuzz/crashes
status=0
for t in config safetensors tokens moshi_options; do
  work=build-fuzz/corpus/$t
  mkdir -p "$work" fuzz/regressions/$t
  cp -n fuzz/corpus/$t/* "$work"/ 2>/dev/null || true
  echo "fuzz: $t for ${seconds}s"
  if ! build-fuzz/fuzz_$t -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix=fuzz/crashes/$t- "$work" fuzz/regressions/$t 2> build-fuzz/fuzz_$t.log; then
    echo "fuzz: $t FAILED; the input is in fuzz/crashes/ and the report in build-fuzz/fuzz_$t.log" >&2
    tail -40 build-fuzz/fuzz_$t.log >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|cov:" build-fuzz/fuzz_$t.log | tail -2
  fi
done
exit $status
