#pragma once
// Hugging Face's Strip normalizer: removes Unicode whitespace (the White_Space property, Rust's
// char::is_whitespace) from the left and/or right end of the text.
#include "tokenizer/normalizers/normalizer.hpp"

namespace arrakis::tok {

class StripNormalizer final : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override;

 private:
  bool left_, right_;
};

}  // namespace arrakis::tok
