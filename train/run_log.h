// The trainer's log: every line goes to stdout, flushed at once (so a log redirected to a file is
// complete up to the last line even when the process is killed), and to RUN_DIR/train.log.
// On a terminal, progress lines overwrite each other; train.log keeps every one.
#pragma once
#include <cstdio>
#include <string>

namespace ttt {

class RunLog {
 public:
  RunLog();
  ~RunLog();
  RunLog(const RunLog&) = delete;
  RunLog& operator=(const RunLog&) = delete;

  void open(const std::string& path);  // appends; lines logged before it reach stdout only
  void quiet() { quiet_ = true; }      // nothing to stdout or a file (the other ranks of a data-parallel run)
  void line(const std::string& text);
  void progress(const std::string& text);
  void file_only(const std::string& text);  // e.g. the error that ends the run (main prints it)

 private:
  void end_progress();
  std::FILE* file_ = nullptr;
  bool tty_ = false;
  bool progress_open_ = false;
  bool quiet_ = false;
};

}  // namespace ttt
