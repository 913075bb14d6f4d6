#include "core/collectives.h"

#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "core/backend.h"
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
  for (void* e : order_events_) cudaEventDestroy(static_cast<cudaEvent_t>(e));
  for (auto& [before, after] : launch_events_) {
    cudaEventDestroy(static_cast<cudaEvent_t>(before));
    cudaEventDestroy(static_cast<cudaEvent_t>(after));
  }
  if (side_stream_) cudaStreamDestroy(static_cast<cudaStream_t>(side_stream_));
  if (comm_) ncclCommDestroy(static_cast<ncclComm_t>(comm_));
}

namespace {

// One NCCL group summing every tensor in place on `stream`.
void group_all_reduce(ncclComm_t comm, const std::vector<Tensor>& tensors, Device device, cudaStream_t stream) {
  TTT_CHECK(comm, "Collectives", "the communicator was aborted after an earlier failure");
  check_nccl(ncclGroupStart(), "ncclGroupStart");
  for (const Tensor& t : tensors) {
    TTT_CHECK(t.device() == device, "Collectives", "all_reduce_sum needs tensors on ", device.str(), ", got ", t.describe());
    check_nccl(
        ncclAllReduce(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()), nccl_type(t.dtype()), ncclSum, comm, stream),
        "ncclAllReduce");
  }
  check_nccl(ncclGroupEnd(), "ncclGroupEnd");
}

cudaEvent_t new_event(bool timed) {
  cudaEvent_t e = nullptr;
  TTT_CUDA_CHECK(cudaEventCreateWithFlags(&e, timed ? cudaEventDefault : cudaEventDisableTiming));
  return e;
}

}  // namespace

void Collectives::all_reduce_sum(const std::vector<Tensor>& tensors) {
  group_all_reduce(static_cast<ncclComm_t>(comm_), tensors, device_, cuda::current_stream());
  wait("all-reduce");
}

void Collectives::broadcast(const std::vector<Tensor>& tensors, const std::vector<int>& roots) {
  auto comm = static_cast<ncclComm_t>(comm_);
  TTT_CHECK(comm, "Collectives", "the communicator was aborted after an earlier failure");
  TTT_CHECK(tensors.size() == roots.size(), "Collectives", "broadcast of ", tensors.size(), " tensors from ", roots.size(),
            " roots");
  check_nccl(ncclGroupStart(), "ncclGroupStart");
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    TTT_CHECK(t.device() == device_ && roots[i] >= 0 && roots[i] < world_, "Collectives", "broadcast of ", t.describe(),
              " from rank ", roots[i], " on ", device_.str(), " of ", world_, " ranks");
    check_nccl(ncclBroadcast(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()), nccl_type(t.dtype()), roots[i], comm,
                             cuda::current_stream()),
               "ncclBroadcast");
  }
  check_nccl(ncclGroupEnd(), "ncclGroupEnd");
  wait("broadcast");
}

void Collectives::copy_to_rank0(const Tensor& t, int from) {
  auto comm = static_cast<ncclComm_t>(comm_);
  TTT_CHECK(comm, "Collectives", "the communicator was aborted after an earlier failure");
  if (from == 0 || (rank_ != 0 && rank_ != from)) return;
  TTT_CHECK(t.device() == device_, "Collectives", "copy_to_rank0 of ", t.describe(), " on ", device_.str());
  const auto n = static_cast<size_t>(t.numel());
  if (rank_ == from)
    check_nccl(ncclSend(t.raw_data(), n, nccl_type(t.dtype()), 0, comm, cuda::current_stream()), "ncclSend");
  else
    check_nccl(ncclRecv(t.raw_data(), n, nccl_type(t.dtype()), from, comm, cuda::current_stream()), "ncclRecv");
  wait("copy to rank 0");
}

void* Collectives::order_event() {
  if (ordered_ == order_events_.size()) order_events_.push_back(new_event(false));
  return order_events_[ordered_++];
}

void Collectives::all_reduce_sum_async(const std::vector<Tensor>& tensors) {
  if (!side_stream_) {
    cudaStream_t s = nullptr;
    TTT_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    side_stream_ = s;
  }
  auto side = static_cast<cudaStream_t>(side_stream_);
  // the side stream starts once the current stream has produced these tensors
  auto produced = static_cast<cudaEvent_t>(order_event());
  TTT_CUDA_CHECK(cudaEventRecord(produced, cuda::current_stream()));
  TTT_CUDA_CHECK(cudaStreamWaitEvent(side, produced, 0));
  const bool timed = !cuda::capturing();
  if (timed && launched_ == launch_events_.size()) launch_events_.emplace_back(new_event(true), new_event(true));
  if (timed) TTT_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(launch_events_[launched_].first), side));
  group_all_reduce(static_cast<ncclComm_t>(comm_), tensors, device_, side);
  if (timed) TTT_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(launch_events_[launched_++].second), side));
}

Collectives::OverlapTimes Collectives::join() {
  OverlapTimes times;
  if (ordered_ == 0) return times;  // nothing launched since the last join
  auto side = static_cast<cudaStream_t>(side_stream_);
  // the current stream's own work ends here; the sums may still run
  cudaEvent_t own_end = cuda::capturing() ? nullptr : new_event(true);
  if (own_end) TTT_CUDA_CHECK(cudaEventRecord(own_end, cuda::current_stream()));
  auto sums_end = static_cast<cudaEvent_t>(order_event());
  TTT_CUDA_CHECK(cudaEventRecord(sums_end, side));
  TTT_CUDA_CHECK(cudaStreamWaitEvent(cuda::current_stream(), sums_end, 0));
  ordered_ = 0;
  if (!own_end) return times;  // captured: the host waits after the replay (wait_for_device_work)
  wait("overlapped all-reduce", sums_end);
  TTT_CUDA_CHECK(cudaEventSynchronize(own_end));
  times.launches = static_cast<int>(launched_);
  for (size_t i = 0; i < launched_; ++i) {
    float ms = 0;
    TTT_CUDA_CHECK(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(launch_events_[i].first),
                                        static_cast<cudaEvent_t>(launch_events_[i].second)));
    times.reduce_ms += ms;
  }
  if (launched_ > 0) {
    float exposed = 0;
    TTT_CUDA_CHECK(cudaEventElapsedTime(&exposed, own_end, static_cast<cudaEvent_t>(launch_events_[launched_ - 1].second)));
    times.exposed_ms = std::max(0.0, static_cast<double>(exposed));
  }
  cudaEventDestroy(own_end);
  launched_ = 0;
  return times;
}

void Collectives::wait_for_device_work() {
  // recorded on the default stream, the event follows every blocking stream's earlier work too
  // (a graph replays on one)
  cudaEvent_t done = new_event(false);
  TTT_CUDA_CHECK(cudaEventRecord(done, cuda::current_stream()));
  wait("step", done);
  cudaEventDestroy(done);
}

void Collectives::wait(const char* what, void* done_event) {
  const auto start = std::chrono::steady_clock::now();
  auto comm = static_cast<ncclComm_t>(comm_);
  while (true) {
    const cudaError_t done =
        done_event ? cudaEventQuery(static_cast<cudaEvent_t>(done_event)) : cudaStreamQuery(cuda::current_stream());
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
