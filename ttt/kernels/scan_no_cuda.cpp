// A build without CUDA: the fused scan runs on the CPU only.
#include "core/error.h"
#include "ttt/kernels/scan_kernels.h"

namespace ttt::scan {

template <class T>
void forward_cuda(const ScanShape&, const SequenceArgs<T>&) {
  fail("fused_scan", "this build has no CUDA backend");
}
template <class T>
void backward_cuda(const ScanShape&, const SequenceArgs<T>&) {
  fail("fused_scan", "this build has no CUDA backend");
}

template void forward_cuda<float>(const ScanShape&, const SequenceArgs<float>&);
template void forward_cuda<double>(const ScanShape&, const SequenceArgs<double>&);
template void backward_cuda<float>(const ScanShape&, const SequenceArgs<float>&);
template void backward_cuda<double>(const ScanShape&, const SequenceArgs<double>&);

}  // namespace ttt::scan
