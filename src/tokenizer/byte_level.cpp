#include "tokenizer/byte_level.hpp"

#include <array>

#include "tokenizer/utf8.hpp"

namespace arrakis::tok::byte_level {

namespace {

// The table's characters are all below U+0144: 256 bytes, of which 68 are moved to 256 + their rank.
constexpr char32_t kTableEnd = 0x144;

struct Tables {
  std::array<char32_t, 256> to_char{};
  std::array<std::int16_t, kTableEnd> to_byte{};
  // The UTF-8 spelling of each byte's character (1 or 2 bytes), so that mapping text is a table copy.
  std::array<std::array<char, 2>, 256> utf8{};
  std::array<std::uint8_t, 256> utf8_length{};
};

constexpr bool stands_for_itself(unsigned b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

constexpr Tables make_tables() {
  Tables t;
  for (auto& v : t.to_byte) v = -1;
  char32_t next_moved = 256;
  for (unsigned b = 0; b < 256; ++b) {
    const char32_t c = stands_for_itself(b) ? b : next_moved++;
    t.to_char[b] = c;
    t.to_byte[c] = static_cast<std::int16_t>(b);
    if (c < 0x80) {
      t.utf8[b] = {static_cast<char>(c), 0};
      t.utf8_length[b] = 1;
    } else {
      t.utf8[b] = {static_cast<char>(0xC0 | (c >> 6)), static_cast<char>(0x80 | (c & 0x3F))};
      t.utf8_length[b] = 2;
    }
  }
  return t;
}

constexpr Tables kTables = make_tables();
static_assert(kTables.to_char[' '] == 0x120 && kTables.to_char['\n'] == 0x10A && kTables.to_char[0xAD] == 0x143);

}  // namespace

char32_t byte_to_char(std::uint8_t b) noexcept { return kTables.to_char[b]; }

std::optional<std::uint8_t> char_to_byte(char32_t c) noexcept {
  if (c >= kTableEnd || kTables.to_byte[c] < 0) return std::nullopt;
  return static_cast<std::uint8_t>(kTables.to_byte[c]);
}

void append_spelling(std::string& out, std::string_view bytes) {
  for (const char ch : bytes) {
    const auto b = static_cast<unsigned char>(ch);
    out.append(kTables.utf8[b].data(), kTables.utf8_length[b]);
  }
}

bool append_bytes(std::string& out, std::string_view spelling) {
  const std::size_t original_size = out.size();
  for (std::size_t i = 0; i < spelling.size();) {
    const Utf8Step step = utf8_step(spelling, i);
    const auto byte = step.valid ? char_to_byte(step.code_point) : std::nullopt;
    if (!byte) {
      out.resize(original_size);
      return false;
    }
    out += static_cast<char>(*byte);
    i += step.length;
  }
  return true;
}

}  // namespace arrakis::tok::byte_level
