// A build without CUDA: the fused scan runs on the CPU only.
#include "core/error.h"
#include "ttt/kernels/scan_kernels.h"

namespace ttt::scan {

namespace {
// Kept only so that the settings read back as on a CUDA build.
int g_blocks_per_sequence = 0;
bool g_share_barriers = true;
bool g_rotate_tiles = false;
}  // namespace

void forward_cuda(const ScanShape&, const SequenceArgs<float>&) { fail("fused_scan", "this build has no CUDA backend"); }
void backward_cuda(const ScanShape&, const SequenceArgs<float>&) { fail("fused_scan", "this build has no CUDA backend"); }
void set_cuda_blocks_per_sequence(int blocks) {
  TTT_CHECK(blocks >= 0 && blocks <= 2, "fused_scan",
            "blocks per sequence must be 0 (automatic), 1 or 2 (a cluster of two), got ", blocks);
  g_blocks_per_sequence = blocks;
}
int cuda_blocks_per_sequence() { return g_blocks_per_sequence; }
void set_cuda_shared_barriers(bool on) { g_share_barriers = on; }
bool cuda_shared_barriers() { return g_share_barriers; }
void set_cuda_rotate_tiles(bool on) { g_rotate_tiles = on; }
bool cuda_rotate_tiles() { return g_rotate_tiles; }

}  // namespace ttt::scan
