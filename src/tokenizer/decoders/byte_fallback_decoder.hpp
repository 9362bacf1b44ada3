#pragma once
// Hugging Face's ByteFallback decoder, for vocabularies that spell characters they lack as "<0xXX>" byte tokens
// (Llama 2, Mistral, Gemma): each run of byte tokens becomes the text its bytes spell when they are valid UTF-8,
// and one U+FFFD per byte token when they are not. Other tokens pass through.
#include "tokenizer/decoders/decoder.hpp"

namespace arrakis::tok {

class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override;
};

}  // namespace arrakis::tok
