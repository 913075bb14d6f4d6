#include "core/files.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace ttt {

namespace {

std::string kind_of(const struct stat& st) {
  if (S_ISDIR(st.st_mode)) return "a directory";
  if (S_ISFIFO(st.st_mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) return "a device";
  if (S_ISSOCK(st.st_mode)) return "a socket";
  if (S_ISLNK(st.st_mode)) return "a symbolic link";
  return "not a regular file";
}

}  // namespace

std::string regular_file_problem(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return std::string(std::strerror(errno)) + (errno == ENOENT ? " (does the file exist?)" : "");
  if (!S_ISREG(st.st_mode)) return "it is " + kind_of(st) + ", not a regular file";
  return "";
}

void require_regular_file(const std::string& path, const std::string& what) {
  const std::string problem = regular_file_problem(path);
  TTT_CHECK(problem.empty(), what, "cannot read '", path, "': ", problem);
}

std::string read_regular_file(const std::string& path, const std::string& what, uint64_t max_bytes) {
  require_regular_file(path, what);
  std::ifstream in(path, std::ios::binary);
  TTT_CHECK(in.good(), what, "cannot open '", path, "': ", std::strerror(errno));
  in.seekg(0, std::ios::end);
  const auto size = static_cast<uint64_t>(in.tellg());
  TTT_CHECK(size <= max_bytes, what, "'", path, "' is ", size, " bytes, more than the ", max_bytes, " this reads");
  in.seekg(0);
  std::string bytes(size, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  TTT_CHECK(static_cast<uint64_t>(in.gcount()) == size, what, "reading '", path, "' stopped after ", in.gcount(), " of ", size,
            " bytes");
  return bytes;
}

void require_replaceable_output(const std::string& path, const std::string& what) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;  // absent: fine
  TTT_CHECK(S_ISREG(st.st_mode), what, "'", path, "' exists and is ", kind_of(st),
            "; it is left alone (give the path of a new or regular file)");
}

}  // namespace ttt
