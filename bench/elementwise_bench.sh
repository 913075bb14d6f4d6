#!/usr/bin/env bash
# The elementwise kernels alone (docs/performance.md "Elementwise kernels"): ours beside PyTorch's,
# the same cases in the same call.
#   bash bench/elementwise_bench.sh          (device bundle unpacked, as bench/device_session.sh)
set -uo pipefail
export LD_LIBRARY_PATH=$PWD/device-bundle/lib
timeout 120 device-bundle/bin/ttt-elementwise-bench "$@"
timeout 120 python3 tools/reference/bench_elementwise_torch.py "$@"
