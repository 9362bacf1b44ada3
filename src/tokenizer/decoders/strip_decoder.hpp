#pragma once
// Hugging Face's Strip decoder: removes up to `start` leading and `stop` trailing occurrences of one character
// from each token (Llama 2's files strip the space the dummy prefix left at the start of the fused text).
#include <cstddef>
#include <string>

#include "tokenizer/decoders/decoder.hpp"

namespace arrakis::tok {

class StripDecoder final : public Decoder {
 public:
  /// `content` is one character (UTF-8).
  StripDecoder(std::string content, std::size_t start, std::size_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override;

 private:
  std::string content_;
  std::size_t start_, stop_;
};

}  // namespace arrakis::tok
