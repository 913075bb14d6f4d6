// Reading the user's files safely: a path that must be a regular file (a config, a data file, a
// checkpoint) is checked before it is opened, so a FIFO never hangs the program, a device such as
// /dev/zero is never read without end, and a directory gets a message instead of an empty read.
#pragma once
#include <cstdint>
#include <string>

namespace ttt {

// "" when `path` is (a link to) a regular file, else why not ("No such file or directory", "it is a
// FIFO (named pipe), not a regular file", ...).
std::string regular_file_problem(const std::string& path);
// Throws ttt::Error "<what>: cannot read '<path>': <problem>" unless `path` is (a link to) a regular file.
void require_regular_file(const std::string& path, const std::string& what);
// The whole file; refuses non-regular files and files over max_bytes.
std::string read_regular_file(const std::string& path, const std::string& what, uint64_t max_bytes = uint64_t{1} << 40);
// An output path may be absent or a regular file; anything else (a folder, a device, a FIFO, a
// symbolic link) is refused: ttt.cpp never renames over it.
void require_replaceable_output(const std::string& path, const std::string& what);

}  // namespace ttt
