// A build without CUDA: the fused scan runs on the CPU only (its settings: scan_settings.cpp).
#include "core/error.h"
#include "ttt/kernels/scan_kernels.h"

namespace ttt::scan {

void forward_cuda(const ScanShape&, const SequenceArgs<float>&, MatmulPrecision) {
  fail("fused_scan", "this build has no CUDA backend");
}
void backward_cuda(const ScanShape&, const SequenceArgs<float>&, MatmulPrecision) {
  fail("fused_scan", "this build has no CUDA backend");
}

}  // namespace ttt::scan
