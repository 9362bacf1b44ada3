#pragma once
// Byte-level BPE's decoder (Hugging Face's ByteLevel decoder): each token's characters back to the bytes they
// stand for, all tokens joined into one string. A token with a character outside the byte table (an added token
// written as plain text, e.g. "你好") is kept as its own UTF-8 text.
// The bytes may be invalid UTF-8 (a token can hold part of a character); the tokenizer repairs that at the end.
#include "tokenizer/decoders/decoder.hpp"

namespace arrakis::tok {

class ByteLevelDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override;
};

}  // namespace arrakis::tok
