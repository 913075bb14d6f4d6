// Stopping a run cleanly: SIGINT, SIGTERM and SIGHUP ask the trainer to finish the current step,
// write a checkpoint, flush its logs and exit with 128 + the signal. A second signal exits at once
// (the last complete checkpoint stays intact: checkpoints are written atomically).
#pragma once

namespace ttt {

// Installs the handlers for the lifetime of the object and restores the previous ones after.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // The signal that asked to stop (0 while none has).
  static int requested();
  static const char* name(int signal);
};

}  // namespace ttt
