#pragma once
// Hugging Face's Lowercase normalizer: each character replaced by its full Unicode lowercase mapping on its own,
// as Rust's char::to_lowercase does ("İ" becomes "i̇"; a final "Σ" becomes "σ", since no context is looked at).
#include "tokenizer/normalizers/normalizer.hpp"

namespace arrakis::tok {

class LowercaseNormalizer final : public Normalizer {
 public:
  void normalize(std::string& text) const override;
};

}  // namespace arrakis::tok
