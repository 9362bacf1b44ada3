#pragma once
// Hugging Face's Replace, which is both a normalizer (on the text) and a decoder (on each token): every match of a
// pattern becomes `content`. Llama 2 and Gemma files use it to turn spaces into "▁" and back.
// A regex pattern with "$1"-style group references in `content` is not supported (no tokenizer uses one); it is
// an arrakis::Error when the file is loaded, not a silent mismatch.
#include <string>

#include "tokenizer/decoders/decoder.hpp"
#include "tokenizer/normalizers/normalizer.hpp"
#include "tokenizer/pre_tokenizers/pattern.hpp"

namespace arrakis::tok {

struct Replacement {
  Pattern pattern;
  std::string content;
};

/// The "pattern" and "content" of a Replace spec.
Replacement replacement_from_json(const Json& spec, const JsonPlace& place);

class ReplaceNormalizer final : public Normalizer {
 public:
  explicit ReplaceNormalizer(Replacement replacement) : replacement_(std::move(replacement)) {}
  void normalize(std::string& text) const override;

 private:
  Replacement replacement_;
};

class ReplaceDecoder final : public Decoder {
 public:
  explicit ReplaceDecoder(Replacement replacement) : replacement_(std::move(replacement)) {}
  void decode_chain(std::vector<std::string>& tokens) const override;

 private:
  Replacement replacement_;
};

}  // namespace arrakis::tok
