#include "train/launcher.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "core/device.h"
#include "core/error.h"
#include "train/distributed.h"

namespace ttt {

namespace {

volatile std::sig_atomic_t g_forward_signal = 0;
void remember_signal(int sig) { g_forward_signal = sig; }

}  // namespace

int launch_local_workers(const TrainConfig& c, const TrainOptions& opt) {
  const int world = static_cast<int>(c.run.devices.size());
  TTT_CHECK(!opt.argv.empty(), "run.devices", "the launcher needs the command line to start its copies");
  const int visible = cuda_device_count();
  if (visible > 0)  // (with none, every copy says so itself)
    for (int64_t d : c.run.devices)
      TTT_CHECK(d < visible, "run.devices", "GPU ", d, " is not on this machine: it has ", visible, " (0 to ", visible - 1, ")");
  const int port = free_local_port();
  std::cout << "ttt-train: data parallel on GPUs";
  for (int64_t d : c.run.devices) std::cout << " " << d;
  std::cout << ": " << world << " processes, global batch " << world * c.run.batch_size << " (run.batch_size " << c.run.batch_size
            << " each), rendezvous on 127.0.0.1:" << port << std::endl;
  // our signals are forwarded, not acted on, while the copies run
  struct sigaction sa {};
  sa.sa_handler = remember_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);

  std::vector<pid_t> pids;
  for (int r = 0; r < world; ++r) {
    const pid_t pid = ::fork();
    TTT_CHECK(pid >= 0, "run.devices", "cannot start process ", r, ": fork failed");
    if (pid == 0) {
      for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
               {"RANK", std::to_string(r)},
               {"LOCAL_RANK", std::to_string(r)},
               {"WORLD_SIZE", std::to_string(world)},
               {"MASTER_ADDR", "127.0.0.1"},
               {"MASTER_PORT", std::to_string(port)},
               // each copy sees its own GPU only, as cuda:0
               {"CUDA_VISIBLE_DEVICES", std::to_string(c.run.devices[static_cast<size_t>(r)])},
               {"TTT_DEVICE", "cuda:0"}})
        ::setenv(k.c_str(), v.c_str(), 1);
      std::vector<char*> args;
      for (const std::string& a : opt.argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv("/proc/self/exe", args.data());
      std::perror("ttt-train: exec of a data-parallel copy failed");
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  int result = 0, alive = world;
  std::vector<bool> running(static_cast<size_t>(world), true);
  auto signal_all = [&](int sig) {
    for (int r = 0; r < world; ++r)
      if (running[static_cast<size_t>(r)]) ::kill(pids[static_cast<size_t>(r)], sig);
  };
  std::chrono::steady_clock::time_point kill_at{};
  bool stopping = false, forwarded = false;
  while (alive > 0) {
    if (g_forward_signal) {  // the copies stop together after a step (rank 0 checkpoints): their codes are expected
      signal_all(g_forward_signal);
      g_forward_signal = 0;
      forwarded = true;
    }
    int status = 0;
    const pid_t done = ::waitpid(-1, &status, WNOHANG);
    if (done > 0) {
      for (int r = 0; r < world; ++r)
        if (pids[static_cast<size_t>(r)] == done) {
          running[static_cast<size_t>(r)] = false;
          --alive;
          const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
          if (forwarded) {
            if (r == 0) result = code;
          } else if (code != 0 && !stopping) {  // one failed: end the others
            std::cerr << "ttt-train: process " << r << " (GPU " << c.run.devices[static_cast<size_t>(r)] << ") ended with code "
                      << code << "; stopping the other " << alive << std::endl;
            result = code;
            stopping = true;
            signal_all(SIGTERM);
            kill_at = std::chrono::steady_clock::now() + std::chrono::seconds(30);
          } else if (code != 0 && result == 0) {
            result = code;
          }
        }
      continue;
    }
    if (stopping && std::chrono::steady_clock::now() > kill_at) signal_all(SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return result;
}

}  // namespace ttt
