// Entry points of the fused TTT scan (the algorithm is in scan_algo.h): one call runs every
// sequence. Pointers are host memory for the _cpu functions and device memory for the _cuda ones;
// `all` describes whole tensors (sequence i's part is found by scan_algo.h's sequence_args).
#pragma once
#include "core/kernel_args.h"
#include "ttt/kernels/scan_algo.h"

namespace ttt::scan {

// precision: the f32 products' operands rounded to TF32 or bf16 (f32 sums), the arithmetic of a
// tensor-core scan; f64 products are always exact.
template <class T>
void forward_cpu(const ScanShape& s, const SequenceArgs<T>& all, MatmulPrecision precision = MatmulPrecision::f32);
template <class T>
void backward_cpu(const ScanShape& s, const SequenceArgs<T>& all, MatmulPrecision precision = MatmulPrecision::f32);

// For tests: the CPU executor runs each group of steps that scan_algo.h declares independent
// (together()) in reverse order; the results must not change.
void set_cpu_groups_reversed(bool reversed);

// CUDA, f32 (the CUDA backend is f32-only), the products at `precision` (f32 FMAs, or TF32 / bf16
// tensor cores with f32 sums); throws when built without CUDA.
void forward_cuda(const ScanShape& s, const SequenceArgs<float>& all, MatmulPrecision precision = MatmulPrecision::f32);
void backward_cuda(const ScanShape& s, const SequenceArgs<float>& all, MatmulPrecision precision = MatmulPrecision::f32);

// Thread blocks per sequence for the CUDA kernels, process-wide: 1, 2 (a cluster of two blocks
// sharing each sequence's work, scan_cuda.cu) or 0, the default: 2 when twice the sequences fit
// on the GPU's SMs at once, else 1.
void set_cuda_blocks_per_sequence(int blocks);
int cuda_blocks_per_sequence();

// On by default (measured faster: docs/performance.md; set_cuda_shared_barriers(false) for the
// other way): the CUDA kernels end a group of independent steps (scan_algo.h's together()) with
// one barrier instead of one per step, about half the barriers of a TTT-MLP backward mini-batch.
// set_cpu_groups_reversed checks the independence on the CPU.
void set_cuda_shared_barriers(bool on);
bool cuda_shared_barriers();

// On by default (measured faster; set_cuda_rotate_tiles(false) for the other way). With a cluster of two blocks per
// sequence and shared barriers, the tiles of a group's products are dealt to the two blocks in one
// round robin across the group, so that its one-tile products (b x b scores, b x d_in gradients) do
// not all land on the first block while the second waits at the group's barrier (measured faster:
// docs/performance.md, "What bounds the fused kernel": rotated tiles).
void set_cuda_rotate_tiles(bool on);
bool cuda_rotate_tiles();

}  // namespace ttt::scan
