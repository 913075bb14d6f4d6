// ttt-tokens: make token files (format in train/data.h and docs/training.md).
//   ttt-tokens from-text INPUT.txt OUTPUT.tok     one stream of bytes (vocab 256)
//   ttt-tokens info FILE.tok                      print the header
#include <iostream>

#include "core/error.h"
#include "train/data.h"

int main(int argc, char** argv) {
  const std::string usage = "usage: ttt-tokens from-text INPUT.txt OUTPUT.tok | ttt-tokens info FILE.tok\n";
  if (argc < 3) {
    std::cerr << usage;
    return 2;
  }
  const std::string cmd = argv[1];
  try {
    if (cmd == "from-text" && argc == 4) {
      ttt::TokenFile f = ttt::token_file_from_text(argv[2]);
      ttt::write_token_file(argv[3], f, 2);
      std::cout << "wrote " << argv[3] << ": " << f.num_steps() << " steps, 1 stream\n";
      return 0;
    }
    if (cmd == "info" && argc == 3) {
      ttt::TokenFile f = ttt::read_token_file(argv[2]);
      std::cout << argv[2] << ": " << f.num_steps() << " steps x " << f.num_streams << " streams\n";
      return 0;
    }
  } catch (const ttt::Error& e) {
    std::cerr << "ttt-tokens: " << e.what() << "\n";
    return 1;
  }
  std::cerr << usage;
  return 2;
}
