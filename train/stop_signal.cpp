#include "train/stop_signal.h"

#include <unistd.h>

#include <csignal>
#include <cstring>

namespace ttt {

namespace {

volatile std::sig_atomic_t g_requested = 0;
const char* g_message = StopSignals::kTrainerMessage;
size_t g_message_length = 0;
const int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
struct sigaction g_previous[3];

void on_signal(int signal) {
  if (g_requested != 0) _exit(128 + signal);  // the second signal: at once (async-signal-safe)
  g_requested = signal;
  [[maybe_unused]] ssize_t ignored = ::write(STDERR_FILENO, g_message, g_message_length);
}

}  // namespace

StopSignals::StopSignals(const char* message) {
  g_requested = 0;
  g_message = message;
  g_message_length = std::strlen(message);
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
