#include "train/stop_signal.h"

#include <unistd.h>

#include <csignal>

namespace ttt {

namespace {

volatile std::sig_atomic_t g_requested = 0;
const int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
struct sigaction g_previous[3];

void on_signal(int signal) {
  if (g_requested != 0) _exit(128 + signal);  // the second signal: at once (async-signal-safe)
  g_requested = signal;
  const char msg[] = "\nttt-train: stop requested; finishing this step and writing a checkpoint (signal again to quit now)\n";
  [[maybe_unused]] ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof msg - 1);
}

}  // namespace

StopSignals::StopSignals() {
  g_requested = 0;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // system calls in flight (a write, a read) carry on
  for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &sa, &g_previous[i]);
}

StopSignals::~StopSignals() {
  for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &g_previous[i], nullptr);
}

int StopSignals::requested() { return g_requested; }

const char* StopSignals::name(int signal) {
  switch (signal) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGHUP:
      return "SIGHUP";
  }
  return "a signal";
}

}  // namespace ttt
