// Where the time goes. With TTT_PROFILE=1 in the environment, every kernel the framework runs is
// timed and charged to a key built from
//   the region stack (module kinds while a forward runs, "backward > <module kinds> > <op>" while
//   a tape node's backward runs, "optimizer", ...) and the kernel ("matmul", "mul", "softmax").
// A CUDA kernel is bracketed by two CUDA events recorded on the stream without waiting, so the run
// keeps its pace; report() waits once and reads every pair. A CPU kernel is timed by the host
// clock (it runs synchronously). Off (the default) it costs one branch per kernel.
//
// The sum of the kernel times is the time the device was busy; the wall time minus that sum is
// time spent outside kernels (the tape, allocation, launches; on a GPU: the GPU waiting for the
// host).
#pragma once
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>

#include "core/device.h"

namespace ttt::profile {

bool enabled();             // TTT_PROFILE is set and not "0", unless set_enabled said otherwise
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

// Times the work run (CPU) or queued (CUDA) during its lifetime as one kernel named `kernel`.
class KernelTimer {
 public:
  KernelTimer(const char* kernel, Device device);
  ~KernelTimer();
  KernelTimer(const KernelTimer&) = delete;
  KernelTimer& operator=(const KernelTimer&) = delete;

 private:
  bool counted_ = false;  // it opened a timer (and closes it)
  int record_ = -1;       // its record, unless another timer was already open
  uint64_t generation_ = 0;
  std::chrono::steady_clock::time_point cpu_start_;  // for a CPU kernel
};

void reset();  // forget what was timed so far (after warm-up steps)
// The kernels launched since reset(), by key ("region > region | kernel"): how many of each
// (streaming tests check what a step launches with it). Forgets nothing.
std::map<std::string, int64_t> launches();
// Waits for the GPU, then prints the time per region and the most expensive kernels, per step, with
// the wall time since `since` (when reset() was called) for comparison. Forgets what it printed.
void report(std::ostream& os, int64_t steps, std::chrono::steady_clock::time_point since);

}  // namespace ttt::profile
