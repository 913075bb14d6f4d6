#include "train/run_log.h"

#include <unistd.h>

#include "core/error.h"

namespace ttt {

RunLog::RunLog() : tty_(isatty(fileno(stdout)) != 0) {}

RunLog::~RunLog() {
  end_progress();
  if (file_) std::fclose(file_);
}

void RunLog::open(const std::string& path) {
  file_ = std::fopen(path.c_str(), "a");
  TTT_CHECK(file_ != nullptr, "train.log", "cannot open ", path, " for appending");
}

void RunLog::end_progress() {
  if (progress_open_) std::fputs("\n", stdout);
  progress_open_ = false;
}

void RunLog::line(const std::string& text) {
  if (quiet_) return;
  end_progress();
  std::fputs(text.c_str(), stdout);
  std::fputs("\n", stdout);
  std::fflush(stdout);
  file_only(text);
}

void RunLog::progress(const std::string& text) {
  if (quiet_) return;
  if (!tty_) return line(text);
  std::fprintf(stdout, "\r%s\033[K", text.c_str());
  std::fflush(stdout);
  progress_open_ = true;
  file_only(text);
}

void RunLog::file_only(const std::string& text) {
  if (!file_) return;
  std::fputs(text.c_str(), file_);
  std::fputs("\n", file_);
  std::fflush(file_);
}

}  // namespace ttt
