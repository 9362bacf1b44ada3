#include "tokenizer/utf8.hpp"

#include <fmt/format.h>

namespace arrakis::tok {

namespace {

// The range of the second byte allowed after a lead byte (Unicode Table 3-7, "Well-Formed UTF-8 Byte Sequences"):
// excluding overlong forms, surrogates and code points beyond U+10FFFF.
struct LeadInfo {
  unsigned char length;  // 0: not a lead byte
  unsigned char second_low, second_high;
};

constexpr LeadInfo lead_info(unsigned char b) noexcept {
  if (b < 0x80) return {1, 0, 0};
  if (b < 0xC2) return {0, 0, 0};
  if (b < 0xE0) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b < 0xF0) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b < 0xF4) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

}  // namespace

Utf8Step utf8_step(std::string_view text, std::size_t pos) noexcept {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  const unsigned char b0 = s[pos];
  if (b0 < 0x80) return {1, true, b0};
  const LeadInfo info = lead_info(b0);
  if (info.length == 0) return {1, false, U'\uFFFD'};
  char32_t cp = b0 & (0x7F >> info.length);
  std::size_t i = 1;
  for (; i < info.length; ++i) {
    if (pos + i >= n) break;
    const unsigned char b = s[pos + i];
    const bool ok = i == 1 ? (b >= info.second_low && b <= info.second_high) : (b >= 0x80 && b <= 0xBF);
    if (!ok) break;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (i == info.length) return {i, true, cp};
  return {i, false, U'\uFFFD'};  // the lead byte plus the continuation bytes that were still plausible
}

std::size_t utf8_previous(std::string_view text, std::size_t pos) noexcept {
  // A character is at most 4 bytes: try the candidate starts nearest first.
  for (std::size_t back = 1; back <= 4 && back <= pos; ++back) {
    const std::size_t start = pos - back;
    const auto b = static_cast<unsigned char>(text[start]);
    if ((b & 0xC0) == 0x80) continue;  // a continuation byte cannot start a character
    const Utf8Step step = utf8_step(text, start);
    return step.valid && step.length == back ? start : pos - 1;
  }
  return pos - 1;
}

bool is_valid_utf8(std::string_view text) noexcept {
  for (std::size_t i = 0; i < text.size();) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    const Utf8Step step = utf8_step(text, i);
    if (!step.valid) return false;
    i += step.length;
  }
  return true;
}

std::string to_valid_utf8(std::string text) {
  if (is_valid_utf8(text)) return text;
  std::string out;
  out.reserve(text.size() + 8);
  for (std::size_t i = 0; i < text.size();) {
    const Utf8Step step = utf8_step(text, i);
    if (step.valid)
      out.append(text, i, step.length);
    else
      out += "\xEF\xBF\xBD";  // U+FFFD
    i += step.length;
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string code_point_name(char32_t code_point) { return fmt::format("U+{:04X}", static_cast<uint32_t>(code_point)); }

}  // namespace arrakis::tok
