// Where the GPU time goes. With TTT_PROFILE=1 in the environment, every CUDA kernel the framework
// launches is bracketed by two CUDA events and charged to a key built from
//   the region stack (module kinds while a forward runs, "backward > <module kinds> > <op>" while
//   a tape node's backward runs, "optimizer", ...) and the kernel family ("matmul", "binary:mul").
// Events are recorded on the stream without waiting, so the run keeps its pace; report() waits
// once, reads every pair and prints where the time went. Off (the default) it costs one branch.
//
// The sum of the kernel times is the time the GPU was busy; the step's wall time minus that sum
// is time the GPU waited for the host (launch overhead, host synchronisation).
#pragma once
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

#include "core/device.h"

namespace ttt::profile {

bool enabled();  // TTT_PROFILE is set and not "0", unless set_enabled said otherwise
void set_enabled(bool on);  // for programs and tests that profile without the environment variable

// Pushes a label onto the region stack for its lifetime (no-op when profiling is off).
class Region {
 public:
  explicit Region(const std::string& label);
  ~Region();
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

 private:
  bool active_;
};

std::string current_region();  // "HybridLM > HybridBlock > SwiGLU", "" outside any region

// Times the CUDA work queued during its lifetime as one kernel of family `kernel`.
class KernelTimer {
 public:
  KernelTimer(const char* kernel, Device device);
  ~KernelTimer();
  KernelTimer(const KernelTimer&) = delete;
  KernelTimer& operator=(const KernelTimer&) = delete;

 private:
  bool counted_ = false;  // it opened a timer (and closes it)
  int record_ = -1;       // its record, unless another timer was already open
};

void reset();  // forget what was timed so far (after warm-up steps)
// Waits for the GPU, then prints the time per region and the most expensive kernels, per step, with
// the wall time since `since` (when reset() was called) for comparison.
void report(std::ostream& os, int64_t steps, std::chrono::steady_clock::time_point since);

}  // namespace ttt::profile
