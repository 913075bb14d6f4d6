// ttt-tokens: make token files (format in train/data.h and docs/training.md).
//   ttt-tokens from-text INPUT.txt OUTPUT.tok     one stream of bytes (vocab 256)
//   ttt-tokens info FILE.tok                      print the header
#include <iostream>

#include "core/error.h"
#include "core/files.h"
#include "train/cli.h"
#include "train/data.h"

int main(int argc, char** argv) {
  const std::string usage =
      "usage: ttt-tokens from-text INPUT.txt OUTPUT.tok   one stream of bytes (vocab 256)\n"
      "       ttt-tokens info FILE.tok                    print the header\n"
      "       ttt-tokens --version\n"
      "INPUT must be a regular file; OUTPUT must be new or a regular file (replaced atomically).\n";
  if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::cout << usage;
    return 0;
  }
  if (argc == 2 && std::string(argv[1]) == "--version") {
    std::cout << ttt::cli::version_line("ttt-tokens") << "\n";
    return 0;
  }
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (!((cmd == "from-text" && argc == 4) || (cmd == "info" && argc == 3))) {
    std::cerr << usage;
    return 2;
  }
  return ttt::cli::guarded_main("ttt-tokens", [&] {
    if (cmd == "from-text") {
      ttt::require_replaceable_output(argv[3], "ttt-tokens");  // before reading: a bad output path costs nothing
      ttt::TokenFile f = ttt::token_file_from_text(argv[2]);
      ttt::write_token_file(argv[3], f, 2);
      std::cout << "wrote " << argv[3] << ": " << f.num_steps() << " steps, 1 stream\n";
      return 0;
    }
    ttt::TokenFile f = ttt::read_token_file(argv[2]);
    std::cout << argv[2] << ": " << f.num_steps() << " steps x " << f.num_streams << " streams\n";
    return 0;
  });
}
