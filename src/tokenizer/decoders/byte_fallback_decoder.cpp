#include "tokenizer/decoders/byte_fallback_decoder.hpp"

#include <optional>

#include "tokenizer/utf8.hpp"

namespace arrakis::tok {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The byte of a "<0xXX>" token (either case of hex digits, as Hugging Face parses them).
std::optional<char> byte_of(const std::string& token) {
  if (token.size() != 6 || !token.starts_with("<0x") || token.back() != '>') return std::nullopt;
  const int high = hex_digit(token[3]);
  const int low = hex_digit(token[4]);
  if (high < 0 || low < 0) return std::nullopt;
  return static_cast<char>(high * 16 + low);
}

}  // namespace

void ByteFallbackDecoder::decode_chain(std::vector<std::string>& tokens) const {
  std::vector<std::string> out;
  out.reserve(tokens.size());
  std::string bytes;      // the run of byte tokens not yet handed on
  std::size_t count = 0;  // how many tokens made it
  const auto flush = [&] {
    if (count == 0) return;
    if (is_valid_utf8(bytes))
      out.push_back(std::move(bytes));
    else
      out.insert(out.end(), count, "\xEF\xBF\xBD");  // U+FFFD per byte token
    bytes.clear();
    count = 0;
  };
  for (std::string& token : tokens) {
    if (const auto byte = byte_of(token)) {
      bytes += *byte;
      ++count;
      continue;
    }
    flush();
    out.push_back(std::move(token));
  }
  flush();
  tokens = std::move(out);
}

}  // namespace arrakis::tok
