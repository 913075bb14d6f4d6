// A build without CUDA: the fused scan runs on the CPU only.
#include "core/error.h"
#include "ttt/kernels/scan_kernels.h"

namespace ttt::scan {

namespace {
int g_blocks_per_sequence = 0;  // kept only so that the setting reads back as on a CUDA build
}

void forward_cuda(const ScanShape&, const SequenceArgs<float>&) { fail("fused_scan", "this build has no CUDA backend"); }
void backward_cuda(const ScanShape&, const SequenceArgs<float>&) { fail("fused_scan", "this build has no CUDA backend"); }
void set_cuda_blocks_per_sequence(int blocks) {
  TTT_CHECK(blocks >= 0 && blocks <= 2, "fused_scan",
            "blocks per sequence must be 0 (automatic), 1 or 2 (a cluster of two), got ", blocks);
  g_blocks_per_sequence = blocks;
}
int cuda_blocks_per_sequence() { return g_blocks_per_sequence; }
void set_cuda_shared_barriers(bool on) {
  TTT_CHECK(!on, "fused_scan", "this build has no CUDA backend: shared barriers cannot be switched on");
}
bool cuda_shared_barriers() { return false; }

}  // namespace ttt::scan
