#pragma once
// Hugging Face's Prepend normalizer: puts a string before the text unless it is empty (Llama 2's legacy files
// prepend "▁", SentencePiece's dummy prefix, to each stretch of text between added tokens).
#include <string>

#include "tokenizer/normalizers/normalizer.hpp"

namespace arrakis::tok {

class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

}  // namespace arrakis::tok
