#!/usr/bin/env bash
# device-bundle: make a folder that runs on the GPU machine.
# Usage: tools/device_bundle.sh OUT_DIR EXECUTABLE...
# Copies the executables into OUT_DIR/bin and the shared libraries they load that the GPU
# machine's image may lack (Debian -dev libraries such as yaml-cpp or OpenBLAS) into OUT_DIR/lib.
# The C/C++ runtime and the CUDA libraries are left out: the GPU machine has its own.
# Put OUT_DIR in .git/info/exclude, name it in the device call's `carry`, and there run
#   LD_LIBRARY_PATH=$PWD/OUT_DIR/lib OUT_DIR/bin/NAME ...
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,9p' "$0"; exit 2; }
out=$1; shift
mkdir -p "$out/bin" "$out/lib"
skip='^(linux-vdso|ld-linux|libc\.|libm\.|libdl\.|librt\.|libpthread\.|libstdc\+\+|libgcc_s|libcuda\.|libcudart|libcublas|libcudnn|libnccl|libcurand|libcufft|libcusolver|libcusparse|libnvrtc|libnvJitLink)'
for exe in "$@"; do
  [ -x "$exe" ] || { echo "not an executable: $exe" >&2; exit 1; }
  cp "$exe" "$out/bin/"
  ldd "$exe" | awk '/=>/ {print $1, $3}' | while read -r name path; do
    [[ $name =~ $skip ]] && continue
    [ -f "$path" ] && cp -L "$path" "$out/lib/$name"
  done
done
echo "bundle in $out: $(ls "$out/bin" | wc -l) executables, $(ls "$out/lib" | wc -l) libraries, $(du -sh "$out" | cut -f1)"
