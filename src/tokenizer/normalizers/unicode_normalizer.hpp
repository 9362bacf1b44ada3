#pragma once
// Unicode normalization forms NFC, NFD, NFKC and NFKD (Hugging Face's normalizers of those names; Qwen2 and
// GPT-NeoX files use NFC), computed by ICU. Bytes that are not valid UTF-8 pass through unchanged.
#include <string>

#include "tokenizer/normalizers/normalizer.hpp"

namespace arrakis::tok {

enum class UnicodeForm { NFC, NFD, NFKC, NFKD };

class UnicodeNormalizer final : public Normalizer {
 public:
  /// An arrakis::Error when ICU cannot provide the form's data.
  explicit UnicodeNormalizer(UnicodeForm form);
  void normalize(std::string& text) const override;

 private:
  const void* icu_;  // icu::Normalizer2*, owned by ICU (kept opaque so that ICU's headers stay out of this one)
};

}  // namespace arrakis::tok
