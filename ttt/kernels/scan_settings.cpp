// The CUDA scan's process-wide settings (declared in scan_kernels.h), in one place for builds
// with and without CUDA, so that both read them back alike; scan_cuda.cu reads them per launch.
#include <atomic>

#include "core/error.h"
#include "ttt/kernels/scan_kernels.h"

namespace ttt::scan {

namespace {
std::atomic<int> g_blocks_per_sequence{0};  // 0: chosen per launch (scan_cuda.cu's blocks_for)
// Both on: measured faster on the H100 (docs/performance.md). The other ways stay for the tests
// that keep them covered and for ttt-layer-bench's --shared-barriers / --rotate-tiles.
std::atomic<bool> g_share_barriers{true};
std::atomic<bool> g_rotate_tiles{true};
}  // namespace

void set_cuda_blocks_per_sequence(int blocks) {
  TTT_CHECK(blocks == 0 || blocks == 1 || blocks == 2 || blocks == 4, "fused_scan",
            "blocks per sequence must be 0 (automatic), 1, 2 or 4 (a cluster of two or four), got ", blocks);
  g_blocks_per_sequence = blocks;
}
int cuda_blocks_per_sequence() { return g_blocks_per_sequence; }
void set_cuda_shared_barriers(bool on) { g_share_barriers = on; }
bool cuda_shared_barriers() { return g_share_barriers; }
void set_cuda_rotate_tiles(bool on) { g_rotate_tiles = on; }
bool cuda_rotate_tiles() { return g_rotate_tiles; }

}  // namespace ttt::scan
