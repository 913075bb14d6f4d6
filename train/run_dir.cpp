#include "train/run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/error.h"
#include "nn/safetensors.h"
#include "train/version.h"

namespace ttt {

namespace fs = std::filesystem;

namespace {

const char* kWhere = "run.run_dir";

fs::path canonical_or_weak(const fs::path& p) {
  std::error_code ec;
  fs::path out = fs::weakly_canonical(fs::absolute(p), ec);
  return ec ? fs::absolute(p).lexically_normal() : out;
}

// True when `ancestor` is `p` or one of the folders above it.
bool contains(const fs::path& ancestor, const fs::path& p) {
  auto a = ancestor.begin(), b = p.begin();
  for (; a != ancestor.end(); ++a, ++b) {
    if (a->empty()) continue;  // a trailing separator
    if (b == p.end() || *a != *b) return false;
  }
  return true;
}

// What ttt-train writes at the top of a run directory; anything else there is the user's.
bool written_by_us(const std::string& name) {
  static const std::set<std::string> ours = {kRunMarker,  kRunLock,   "config.yaml", "metrics.jsonl",
                                             "train.log", "loss.png", "checkpoints"};
  return ours.count(name) || (name[0] == '.' && name.find(".tmp.") != std::string::npos);
}

std::string time_stamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

// The pid holding a flock on the file behind fd, from /proc/locks (Linux): the lock file itself
// is never written, so taking the lock changes no file. 0 when it cannot be told.
int holder_pid(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return 0;
  std::ifstream locks("/proc/locks");
  std::string line;
  std::string inode = ":";  // (built by appends: GCC 12 warns falsely about "a" + std::string)
  inode += std::to_string(st.st_ino);
  inode += " ";
  while (std::getline(locks, line)) {
    // "1: FLOCK  ADVISORY  WRITE 12345 08:01:123456 0 EOF"
    if (line.find("FLOCK") == std::string::npos || line.find(inode) == std::string::npos) continue;
    std::istringstream fields(line);
    std::string id, type, mode, access;
    int pid = 0;
    if (fields >> id >> type >> mode >> access >> pid) return pid;
  }
  return 0;
}

void write_marker(const fs::path& dir) {
  const fs::path marker = dir / kRunMarker;
  // O_EXCL: of two processes that found the same empty folder, one makes the marker, one fails
  const int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  TTT_CHECK(fd >= 0, kWhere, "cannot create ", marker.string(), ": ", std::strerror(errno),
            errno == EEXIST ? " (another ttt-train process started a run there at the same moment)" : "");
  const std::string text =
      nlohmann::ordered_json{{"created_by", "ttt-train"}, {"version", std::string(kVersion)}, {"created", time_stamp()}}.dump(2) +
      "\n";
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  TTT_CHECK(ok, kWhere, "cannot write ", marker.string());
}

}  // namespace

RunDirLock::RunDirLock(const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / kRunLock).string();
  fd_ = ::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
  TTT_CHECK(fd_ >= 0, kWhere, "cannot open the lock file ", path, ": ", std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int pid = holder_pid(fd_);
    ::close(fd_);
    fd_ = -1;
    fail(kWhere, "'" + run_dir + "' is in use by another ttt-train process" +
                     (pid > 0 ? " (pid " + std::to_string(pid) + ")" : std::string()) +
                     "; wait for it to finish, or stop it first (it checkpoints on SIGINT)");
  }
}

RunDirLock::~RunDirLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

RunDirLock::RunDirLock(RunDirLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

RunDirLock& RunDirLock::operator=(RunDirLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

void check_run_dir_path(const std::string& run_dir, const std::string& source_dir) {
  TTT_CHECK(!run_dir.empty(), kWhere, "must not be empty");
  const fs::path p = canonical_or_weak(run_dir);
  auto refuse = [&](const std::string& why) {
    fail(kWhere, "'" + run_dir + "' " + why + "; give a folder of its own, e.g. runs/NAME");
  };
  if (p == p.root_path()) refuse("is the root directory");
  if (contains(p, canonical_or_weak(fs::current_path()))) refuse("is the working directory or a folder above it");
  if (const char* home = std::getenv("HOME"); home && *home && contains(p, canonical_or_weak(home)))
    refuse("is the home directory or a folder above it");
  if (!source_dir.empty() && fs::exists(source_dir) && contains(p, canonical_or_weak(source_dir)))
    refuse("is the source tree or a folder above it");
}

bool is_marked_run_dir(const std::string& dir) {
  std::error_code ec;
  return fs::is_directory(dir, ec) && fs::is_regular_file(fs::path(dir) / kRunMarker, ec);
}

void check_new_run_dir(const std::string& run_dir, ExistingRunDir policy, const std::string& source_dir) {
  check_run_dir_path(run_dir, source_dir);
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(run_dir, ec);
  if (!fs::exists(st)) return;
  if (fs::is_symlink(st))
    fail(kWhere, "'" + run_dir + "' is a symbolic link; ttt-train does not write through it (give its target)");
  if (!fs::is_directory(st))
    fail(kWhere, "'" + run_dir + "' exists and is not a folder; it is left alone (give another run.run_dir)");
  if (fs::is_empty(run_dir, ec)) return;
  if (!is_marked_run_dir(run_dir))
    fail(kWhere, "'" + run_dir + "' holds files that ttt-train did not make (no " + kRunMarker +
                     " in it); it is never replaced. Give another run.run_dir");
  if (policy == ExistingRunDir::refuse)
    fail(kWhere, "'" + run_dir + "' holds an earlier run. Continue it with --resume " + run_dir +
                     ", or start over with run.existing_run_dir=move_aside (it is renamed to " +
                     fs::path(run_dir).filename().string() + ".old-<time>)");
  if (policy == ExistingRunDir::remove)
    for (const auto& e : fs::directory_iterator(run_dir)) {
      const std::string name = e.path().filename().string();
      TTT_CHECK(written_by_us(name), kWhere, "'", run_dir, "' also holds '", name,
                "', which ttt-train did not write; it is not deleted. Use run.existing_run_dir=move_aside");
    }
}

RunDirLock create_run_dir(const std::string& run_dir, ExistingRunDir policy, const std::string& source_dir) {
  check_new_run_dir(run_dir, policy, source_dir);
  std::error_code ec;
  if (is_marked_run_dir(run_dir)) {
    RunDirLock old(run_dir);  // refused while another process trains there
    if (policy == ExistingRunDir::move_aside) {
      const fs::path from = fs::path(run_dir).lexically_normal();
      const fs::path base = from.has_filename() ? from : from.parent_path();
      fs::path to = base.string() + ".old-" + time_stamp();
      for (int n = 2; fs::exists(fs::symlink_status(to, ec)); ++n)
        to = base.string() + ".old-" + time_stamp() + "-" + std::to_string(n);
      fs::rename(base, to);
      std::cout << "moved the earlier run " << run_dir << " aside to " << to.string() << "\n";
    } else {
      // only what ttt-train wrote is there (check_new_run_dir): delete it entry by entry
      for (const auto& e : fs::directory_iterator(run_dir))
        if (e.path().filename() != kRunLock) fs::remove_all(e.path());
      fs::remove(fs::path(run_dir) / kRunMarker, ec);
      std::cout << "deleted the earlier run in " << run_dir << " (run.existing_run_dir=delete)\n";
      write_marker(run_dir);
      return old;  // the lock stays held from the check to the new run
    }
  }
  fs::create_directories(run_dir);
  if (!fs::exists(fs::path(run_dir) / kRunMarker)) write_marker(run_dir);
  return RunDirLock(run_dir);
}

}  // namespace ttt
