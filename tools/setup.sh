#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and builds ttt.cpp (safe to run again).
#   bash tools/setup.sh            # install packages, configure, build (preset "default")
#   TTT_PRESET=cpu bash tools/setup.sh   # a CPU-only build in build-cpu/
# Then it trains configs/tiny.yaml (skip with TTT_SKIP_TRAIN=1).
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${TTT_PRESET:-default}

packages=(build-essential cmake ninja-build ccache pkg-config libopenblas-dev libgtest-dev
          libyaml-cpp-dev nlohmann-json3-dev libsentencepiece-dev python3 python3-pip python3-venv clang libclang-rt-14-dev clang-format)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo_cmd apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

# Python tools for the interop tests and plots, in a project-local virtual environment.
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import numpy, safetensors, matplotlib" 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check numpy safetensors matplotlib
fi

cmake --preset "$preset"
cmake --build --preset "$preset"

build_dir=build
[ "$preset" = cpu ] && build_dir=build-cpu
[ "$preset" = debug ] && build_dir=build-debug
# Train the default config (about a minute on 2 CPU cores); TTT_SKIP_TRAIN=1 skips it. A run left
# in runs/tiny by an earlier setup is moved aside (runs/tiny.old-<time>), never deleted.
if [ "${TTT_SKIP_TRAIN:-0}" != 1 ]; then
  "$build_dir/ttt-train" --config configs/tiny.yaml run.existing_run_dir=move_aside
fi
