#include "tokenizer/normalizers/unicode_normalizer.hpp"

#include <fmt/format.h>
#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>

#include <algorithm>

#include "arrakis/error.hpp"

namespace arrakis::tok {

namespace {

const icu::Normalizer2* instance(UnicodeForm form, UErrorCode& status) {
  switch (form) {
    case UnicodeForm::NFC: return icu::Normalizer2::getNFCInstance(status);
    case UnicodeForm::NFD: return icu::Normalizer2::getNFDInstance(status);
    case UnicodeForm::NFKC: return icu::Normalizer2::getNFKCInstance(status);
    case UnicodeForm::NFKD: return icu::Normalizer2::getNFKDInstance(status);
  }
  return nullptr;
}

}  // namespace

UnicodeNormalizer::UnicodeNormalizer(UnicodeForm form) {
  UErrorCode status = U_ZERO_ERROR;
  icu_ = instance(form, status);
  if (U_FAILURE(status) || !icu_)
    throw Error(fmt::format("ICU cannot provide Unicode normalization: {}", u_errorName(status)));
}

void UnicodeNormalizer::normalize(std::string& text) const {
  // ASCII is already in every normalization form: most text returns here without ICU.
  if (std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) return;
  const auto* normalizer = static_cast<const icu::Normalizer2*>(icu_);
  UErrorCode status = U_ZERO_ERROR;
  const icu::StringPiece input(text.data(), static_cast<int32_t>(text.size()));
  if (normalizer->isNormalizedUTF8(input, status) && U_SUCCESS(status)) return;
  status = U_ZERO_ERROR;
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  icu::StringByteSink<std::string> sink(&out);
  normalizer->normalizeUTF8(0, input, sink, nullptr, status);
  if (U_FAILURE(status))
    throw Error(
        fmt::format("Unicode normalization of a text of {} bytes failed: {}", text.size(), u_errorName(status)));
  text = std::move(out);
}

}  // namespace arrakis::tok
