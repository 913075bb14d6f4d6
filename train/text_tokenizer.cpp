#include "train/text_tokenizer.h"

#include <sentencepiece_processor.h>

#include <algorithm>
#include <filesystem>

#include "core/error.h"

namespace ttt {

TextTokenizer::TextTokenizer(const std::string& path)
    : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()), path_(path) {
  TTT_CHECK(std::filesystem::is_regular_file(path), "--tokenizer", "'", path, "' is not a file");
  const auto status = sp_->Load(path);
  TTT_CHECK(status.ok(), "--tokenizer", "'", path, "' is not a SentencePiece model: ", status.ToString());
}

TextTokenizer::~TextTokenizer() = default;

int64_t TextTokenizer::num_pieces() const { return sp_->GetPieceSize(); }

std::vector<int64_t> TextTokenizer::encode(const std::string& text) const {
  std::vector<int> ids;
  const auto status = sp_->Encode(text, &ids);
  TTT_CHECK(status.ok(), "--tokenizer", path_, " could not encode the prompt: ", status.ToString());
  return {ids.begin(), ids.end()};
}

std::string TextTokenizer::show(int64_t id, const std::vector<int64_t>& hidden) const {
  if (id < 0 || id >= num_pieces() || std::find(hidden.begin(), hidden.end(), id) != hidden.end()) return "";
  if (sp_->IsControl(static_cast<int>(id))) return "";
  const std::string piece = sp_->IdToPiece(static_cast<int>(id));
  const std::string mark = "\xe2\x96\x81";  // U+2581, SentencePiece's word boundary
  std::string shown;
  for (size_t i = 0; i < piece.size();) {
    const bool boundary = piece.compare(i, mark.size(), mark) == 0;
    shown.push_back(boundary ? ' ' : piece[i]);
    i += boundary ? mark.size() : 1;
  }
  return shown;
}

}  // namespace ttt
