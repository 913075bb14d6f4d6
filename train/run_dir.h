// The run directory: the one folder ttt-train writes into, and the rules that keep it from
// touching anything it did not make.
//   * ttt-train marks every run directory it creates with a marker file (kRunMarker). A path
//     that exists and is neither an empty directory nor a marked run directory is refused,
//     whatever the config says: it holds somebody else's files.
//   * `.`, `..`, `/`, the home directory, the source tree, and every folder that holds the
//     working directory are refused outright.
//   * A marked run directory is replaced only when run.existing_run_dir asks: move_aside renames
//     it to NAME.old-<time>; delete removes it, and only when it holds nothing but what
//     ttt-train writes (else it is refused: move it aside instead).
//   * While a process trains, resumes or checkpoints into a run directory it holds an exclusive
//     flock on RUN_DIR/.ttt-lock (an empty file, never written); the kernel releases it when the
//     process dies. A second process is refused with the holder's pid (read from /proc/locks).
#pragma once
#include <string>

#include "core/enum_names.h"

namespace ttt {

inline constexpr const char* kRunMarker = "ttt-run.json";
inline constexpr const char* kRunLock = ".ttt-lock";

enum class ExistingRunDir { refuse, move_aside, remove };

template <>
struct EnumNames<ExistingRunDir> {
  static constexpr const char* what = "run.existing_run_dir";
  static constexpr std::pair<ExistingRunDir, const char*> names[] = {
      {ExistingRunDir::refuse, "refuse"}, {ExistingRunDir::move_aside, "move_aside"}, {ExistingRunDir::remove, "delete"}};
};

// An exclusive lock on a run directory (RAII). Throws ttt::Error naming the holder's pid.
class RunDirLock {
 public:
  RunDirLock() = default;
  explicit RunDirLock(const std::string& run_dir);
  ~RunDirLock();
  RunDirLock(RunDirLock&& other) noexcept;
  RunDirLock& operator=(RunDirLock&& other) noexcept;
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;
  bool held() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// Refuses a path ttt-train must never create, replace or lock (see above). `source_dir` is the
// source tree (may be empty).
void check_run_dir_path(const std::string& run_dir, const std::string& source_dir);

// True when `dir` carries the marker of a run directory ttt-train created.
bool is_marked_run_dir(const std::string& dir);

// Checks, before anything is created, that a new run may start at `run_dir` under `policy`;
// throws ttt::Error (with what to do instead) when it may not. Changes nothing.
void check_new_run_dir(const std::string& run_dir, ExistingRunDir policy, const std::string& source_dir);

// Makes the run directory of a new run and locks it: an absent path or an empty directory is
// marked and used; a marked run directory is first locked (refused while another process holds
// it), then moved aside or deleted as `policy` says. Prints what it moved aside.
RunDirLock create_run_dir(const std::string& run_dir, ExistingRunDir policy, const std::string& source_dir);

}  // namespace ttt
