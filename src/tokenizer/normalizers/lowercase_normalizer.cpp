#include "tokenizer/normalizers/lowercase_normalizer.hpp"

#include <unicode/ustring.h>

#include <array>

#include "tokenizer/utf8.hpp"

namespace arrakis::tok {

void LowercaseNormalizer::normalize(std::string& text) const {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80) {
      out += static_cast<char>(byte >= 'A' && byte <= 'Z' ? byte + ('a' - 'A') : byte);
      ++i;
      continue;
    }
    const Utf8Step step = utf8_step(text, i);
    if (!step.valid) {  // not a character: kept as it is
      out.append(text, i, step.length);
      i += step.length;
      continue;
    }
    // One character in, its full lowercase mapping out, with ICU's root (language-neutral) rules. Alone, the
    // character has no context, so the result is what Rust's char::to_lowercase gives.
    std::array<UChar, 2> source{};
    int32_t source_length = 0;
    U16_APPEND_UNSAFE(source.data(), source_length, static_cast<UChar32>(step.code_point));
    std::array<UChar, 8> lower{};
    UErrorCode status = U_ZERO_ERROR;
    const int32_t lower_length =
        u_strToLower(lower.data(), static_cast<int32_t>(lower.size()), source.data(), source_length, "", &status);
    if (U_FAILURE(status)) {
      out.append(text, i, step.length);
    } else {
      for (int32_t k = 0; k < lower_length;) {
        UChar32 c;
        U16_NEXT(lower.data(), k, lower_length, c);
        append_utf8(out, static_cast<char32_t>(c));
      }
    }
    i += step.length;
  }
  text = std::move(out);
}

}  // namespace arrakis::tok
