#pragma once
// The Metaspace decoder (Hugging Face's): each replacement character "▁" back to a space, except in the first
// token, where every "▁" is dropped when the encoder prepends one (prepend_scheme other than "never"), so that the
// dummy prefix does not come back as a leading space.
#include "tokenizer/decoders/decoder.hpp"
#include "tokenizer/pre_tokenizers/metaspace_pre_tokenizer.hpp"

namespace arrakis::tok {

class MetaspaceDecoder final : public Decoder {
 public:
  explicit MetaspaceDecoder(MetaspaceOptions options) : options_(std::move(options)) {}
  void decode_chain(std::vector<std::string>& tokens) const override;

 private:
  MetaspaceOptions options_;
};

}  // namespace arrakis::tok
