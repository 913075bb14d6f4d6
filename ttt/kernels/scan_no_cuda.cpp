// A build without CUDA: the fused scan runs on the CPU only.
#include "core/error.h"
#include "ttt/kernels/scan_kernels.h"

namespace ttt::scan {

void forward_cuda(const ScanShape&, const SequenceArgs<float>&) { fail("fused_scan", "this build has no CUDA backend"); }
void backward_cuda(const ScanShape&, const SequenceArgs<float>&) { fail("fused_scan", "this build has no CUDA backend"); }
void set_cuda_blocks_per_sequence(int blocks) {
  TTT_CHECK(blocks == 1, "fused_scan", "this build has no CUDA backend: blocks per sequence must stay 1, got ", blocks);
}
int cuda_blocks_per_sequence() { return 1; }

}  // namespace ttt::scan
