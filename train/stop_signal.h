// Stopping cleanly: SIGINT, SIGTERM and SIGHUP ask the program to finish what it is doing and exit
// with 128 + the signal (the trainer: finish the step, write a checkpoint, flush its logs;
// ttt-export: remove the files it wrote). A second signal exits at once (the last complete
// checkpoint stays intact: checkpoints are written atomically).
#pragma once

namespace ttt {

// Installs the handlers for the lifetime of the object and restores the previous ones after.
class StopSignals {
 public:
  // `message` is written to stderr at the first signal (a string literal: it must outlive the handlers).
  explicit StopSignals(const char* message = kTrainerMessage);
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // The signal that asked to stop (0 while none has).
  static int requested();
  static const char* name(int signal);

  static constexpr const char* kTrainerMessage =
      "\nttt-train: stop requested; finishing this step and writing a checkpoint (signal again to quit now)\n";
};

}  // namespace ttt
