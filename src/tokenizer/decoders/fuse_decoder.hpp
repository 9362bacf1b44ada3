#pragma once
// Hugging Face's Fuse decoder: all tokens joined into one, so that the decoders after it (Strip) see the whole text.
#include "tokenizer/decoders/decoder.hpp"

namespace arrakis::tok {

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override;
};

}  // namespace arrakis::tok
