// A SentencePiece text tokenizer (the library's own processor): ttt-generate's --tokenizer, for
// models whose text stream was tokenized with one (Moshi's tokenizer_spm_32k_3.model; a token file
// made with any SentencePiece model). Encodes a prompt to ids and shows generated ids as text.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace ttt {

class TextTokenizer {
 public:
  // Loads a .model file; a missing or foreign file is an error naming it.
  explicit TextTokenizer(const std::string& path);
  ~TextTokenizer();
  TextTokenizer(const TextTokenizer&) = delete;
  TextTokenizer& operator=(const TextTokenizer&) = delete;

  int64_t num_pieces() const;
  std::vector<int64_t> encode(const std::string& text) const;
  // One generated id as text: its piece with SentencePiece's word mark (U+2581) as a space; ids
  // beyond the pieces (a model's pad or initial token) and `hidden` ones (Moshi's text padding) as
  // nothing.
  std::string show(int64_t id, const std::vector<int64_t>& hidden = {}) const;

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::string path_;
};

}  // namespace ttt
