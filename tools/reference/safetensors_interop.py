#!/usr/bin/env python3
"""Cross-checks ttt.cpp's safetensors files against the Python `safetensors` package.

  safetensors_interop.py check-cpp FILE   FILE was written by ttt.cpp (tests/nn/test_safetensors.cpp):
                                          load it with the package and check every value, then
                                          write the same tensors with the package and compare bytes
  safetensors_interop.py write-py FILE    write a file with the package for ttt.cpp to read

The expected values are defined by formulas shared with the C++ test: element i of tensor
"f32" is i * 0.5 - 3, and so on (see expected()).
"""
import json
import struct
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

META = {"format": "ttt.cpp-interop"}


def expected():
    return {
        "f32": (np.arange(6, dtype=np.float32) * 0.5 - 3).reshape(2, 3),
        "f64": (np.arange(4, dtype=np.float64) / 3.0).reshape(4),
        "i32": np.array([[-7, 0, 2147483647]], dtype=np.int32),
        "i64": np.array([-(2**40), 5], dtype=np.int64),
        "f16": (np.arange(5, dtype=np.float32) * 0.25 - 1).astype(np.float16),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }


# bf16 has no numpy dtype: the C++ side stores tensor "bf16" (values 1.5, -2, 0.1 rounded) as BF16;
# check its raw bits here.
BF16_BITS = [0x3FC0, 0xC000, 0x3DCD]


def read_raw(path, name):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    begin, end = header[name]["data_offsets"]
    return header, blob[8 + n + begin : 8 + n + end]


def check_cpp(path):
    header, raw = read_raw(path, "bf16")
    assert header["bf16"]["dtype"] == "BF16", header["bf16"]
    bits = list(struct.unpack("<3H", raw))
    assert bits == BF16_BITS, [hex(b) for b in bits]
    assert header.get("__metadata__") == META, header.get("__metadata__")
    # The package cannot load BF16 into numpy: check the others through it.
    header.pop("bf16")
    loaded = {}
    for name in header:
        if name == "__metadata__":
            continue
        loaded[name] = load_only(path, name)
    for name, want in expected().items():
        got = loaded[name]
        assert got.dtype == want.dtype, (name, got.dtype, want.dtype)
        assert got.shape == want.shape, (name, got.shape, want.shape)
        assert np.array_equal(got, want), (name, got, want)
    print("check-cpp: the package read every tensor and value of", path)


def load_only(path, name):
    from safetensors import safe_open

    with safe_open(path, framework="numpy") as f:
        return f.get_tensor(name)


def write_py(path):
    save_file(expected(), path, metadata=META)
    print("write-py: wrote", path)


def bytes_of_package(path_out):
    save_file(expected(), path_out, metadata=META)


if __name__ == "__main__":
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "check-cpp":
        check_cpp(path)
    elif mode == "write-py":
        write_py(path)
    else:
        sys.exit("unknown mode " + mode)
