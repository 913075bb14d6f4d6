#include "core/collectives.h"

#include <nccl.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "core/cuda/cuda_check.h"
#include "core/error.h"

namespace ttt {

namespace {

void check_nccl(ncclResult_t r, const char* call) {
  TTT_CHECK(r == ncclSuccess || r == ncclInProgress, "NCCL", call, " failed: ", ncclGetErrorString(r), " (",
            ncclGetLastError(nullptr), ")");
}

ncclDataType_t nccl_type(DType d) {
  switch (d) {
    case DType::f32:
      return ncclFloat32;
    case DType::f64:
      return ncclFloat64;
    case DType::bf16:
      return ncclBfloat16;
    default:
      fail("Collectives", std::string("cannot reduce ") + dtype_name(d) + " tensors");
  }
}

}  // namespace

bool Collectives::available() { return true; }

std::string Collectives::unique_id() {
  ncclUniqueId id;
  check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
  return std::string(id.internal, sizeof id.internal);
}

Collectives::Collectives(const std::string& unique_id, int rank, int world_size, Device device, double timeout_s)
    : rank_(rank), world_(world_size), device_(device), timeout_s_(timeout_s) {
  TTT_CHECK(device.is_cuda(), "Collectives", "data parallelism runs on GPUs; this rank is on ", device.str());
  ncclUniqueId id;
  TTT_CHECK(unique_id.size() == sizeof id.internal, "Collectives", "the NCCL id has ", unique_id.size(), " bytes, not ",
            sizeof id.internal);
  std::memcpy(id.internal, unique_id.data(), sizeof id.internal);
  TTT_CUDA_CHECK(cudaSetDevice(device.index));
  ncclComm_t comm = nullptr;
  check_nccl(ncclCommInitRank(&comm, world_size, id, rank), "ncclCommInitRank");
  comm_ = comm;
}

Collectives::~Collectives() {
  if (comm_) ncclCommDestroy(static_cast<ncclComm_t>(comm_));
}

void Collectives::all_reduce_sum(const std::vector<Tensor>& tensors) {
  auto comm = static_cast<ncclComm_t>(comm_);
  TTT_CHECK(comm, "Collectives", "the communicator was aborted after an earlier failure");
  check_nccl(ncclGroupStart(), "ncclGroupStart");
  for (const Tensor& t : tensors) {
    TTT_CHECK(t.device() == device_, "Collectives", "all_reduce_sum needs tensors on ", device_.str(), ", got ", t.describe());
    check_nccl(ncclAllReduce(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()), nccl_type(t.dtype()), ncclSum, comm,
                             cuda::current_stream()),
               "ncclAllReduce");
  }
  check_nccl(ncclGroupEnd(), "ncclGroupEnd");
  wait("all-reduce");
}

void Collectives::wait(const char* what) {
  const auto start = std::chrono::steady_clock::now();
  auto comm = static_cast<ncclComm_t>(comm_);
  while (true) {
    const cudaError_t done = cudaStreamQuery(cuda::current_stream());
    if (done == cudaSuccess) return;
    if (done != cudaErrorNotReady) TTT_CUDA_CHECK(done);
    ncclResult_t async = ncclSuccess;
    ncclCommGetAsyncError(comm, &async);
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if ((async != ncclSuccess && async != ncclInProgress) || waited > timeout_s_) {
      ncclCommAbort(comm);
      comm_ = nullptr;
      fail("NCCL", "rank " + std::to_string(rank_) + " of " + std::to_string(world_) + ": the " + what +
                       (async != ncclSuccess && async != ncclInProgress
                            ? std::string(" failed: ") + ncclGetErrorString(async)
                            : " made no progress for " + std::to_string(static_cast<int>(waited)) +
                                  " s: another rank has stopped or died") +
                       "; this rank stops too (its last checkpoint is intact)");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

}  // namespace ttt
