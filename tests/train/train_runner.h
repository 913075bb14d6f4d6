// Running ttt-train as a real child process from tests.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_paths.h"

namespace ttt::testing {

// A tool's executable: the path in the environment variable `env` (the device machine runs a copy
// elsewhere), else the one this build made.
inline std::string tool_exe(const char* env, const char* built) {
  const char* given = std::getenv(env);
  return given && *given ? given : built;
}
inline std::string train_exe() { return tool_exe("TTT_TRAIN_EXE", TTT_TRAIN_EXE); }
inline std::string tokens_exe() { return tool_exe("TTT_TOKENS_EXE", TTT_TOKENS_EXE); }
inline std::string probe_exe() { return tool_exe("TTT_PROBE_EXE", TTT_PROBE_EXE); }
inline std::string export_exe() { return tool_exe("TTT_EXPORT_EXE", TTT_EXPORT_EXE); }
inline std::string generate_exe() { return tool_exe("TTT_GENERATE_EXE", TTT_GENERATE_EXE); }
inline std::string eval_exe() { return tool_exe("TTT_EVAL_EXE", TTT_EVAL_EXE); }

struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& name)
      : path(std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string operator/(const std::string& f) const { return (path / f).string(); }
};

struct RunResult {
  int code = -1;   // exit code, or -1 when killed by a signal
  int signal = 0;  // the signal that ended it, if any
  std::string output;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `prefix EXE args` in the source tree (configs/ and tools/ are relative to it), stdout and
// stderr together into DIR/log.txt. prefix may set the environment or limits, e.g.
// "TTT_FAULT=nan_grad:2" or "ulimit -f 64;".
inline RunResult run_tool(const std::string& exe, const std::string& args, const TempDir& dir, const std::string& prefix = "") {
  const std::string log = dir / "log.txt";
  const std::string cmd = "cd " + source_dir() + " && " + prefix + " " + exe + " " + args + " > " + log + " 2>&1";
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.output = read_file(log);
  // sh reports a child killed by signal N as exit status 128 + N
  if (WIFEXITED(status)) {
    r.code = WEXITSTATUS(status);
    if (r.code > 128) r.signal = r.code - 128, r.code = -1;
  } else if (WIFSIGNALED(status)) {
    r.signal = WTERMSIG(status);
  }
  return r;
}

inline RunResult run_train(const std::string& args, const TempDir& dir, const std::string& prefix = "") {
  return run_tool(train_exe(), args, dir, prefix);
}

// A tool started in the background (for signals and locks): `exec`ed through sh in the source
// tree, so pid is the tool's own; stdout and stderr go to log.
struct Child {
  pid_t pid = -1;
  std::string log;
};

inline Child spawn_tool(const std::string& exe, const std::string& args, const std::string& log) {
  const std::string cmd = "cd " + source_dir() + " && exec " + exe + " " + args + " > " + log + " 2>&1";
  Child c{::fork(), log};
  if (c.pid == 0) {
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return c;
}

// Polls the child's log until it holds `text` (true) or the child ended / timeout passed (false).
inline bool wait_for_output(const Child& c, const std::string& text, double timeout_s = 120) {
  for (int i = 0; i < static_cast<int>(timeout_s * 50); ++i) {
    if (read_file(c.log).find(text) != std::string::npos) return true;
    siginfo_t info{};  // WNOWAIT: look whether it ended without reaping it (wait_exit does)
    if (::waitid(P_PID, static_cast<id_t>(c.pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == c.pid)
      return read_file(c.log).find(text) != std::string::npos;
    ::usleep(20000);
  }
  return false;
}

// Waits for the child to end: its exit code, or 128 + the signal that killed it.
inline int wait_exit(const Child& c) {
  int status = 0;
  if (::waitpid(c.pid, &status, 0) != c.pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The "loss" of every logged step of a run's metrics.jsonl, in order.
inline std::vector<double> logged_losses(const std::string& metrics_path) {
  std::vector<double> out;
  std::ifstream in(metrics_path);
  for (std::string line; std::getline(in, line);)
    if (const size_t at = line.find("\"loss\":"); at != std::string::npos) out.push_back(std::stod(line.substr(at + 7)));
  return out;
}

// Small, fast overrides of configs/tiny.yaml.
inline const std::string kSmallRun =
    " run.batch_size=4 run.seq_len=24 run.log_freq=2 run.eval_batches=1 run.eval_freq=0 data.recall.num_pairs=4"
    " model.width=32 model.ffn_hidden=32 schedule.warmup_steps=2";

}  // namespace ttt::testing
