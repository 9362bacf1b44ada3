#pragma once
// GPT-2's reversible map between bytes and printable characters ("bytes_to_unicode"). Byte-level BPE vocabularies
// spell every token in these characters, so any byte string, valid UTF-8 or not, has a spelling in the vocabulary's
// alphabet: printable Latin-1 bytes stand for themselves, the other 68 bytes (controls, space, soft hyphen, ...)
// for U+0100..U+0143 in byte order, e.g. the space is 'Ġ' (U+0120) and the newline 'Ċ' (U+010A).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace arrakis::tok::byte_level {

/// The character that stands for byte `b`.
char32_t byte_to_char(std::uint8_t b) noexcept;

/// The byte that `c` stands for, or nullopt when `c` is not in the table.
std::optional<std::uint8_t> char_to_byte(char32_t c) noexcept;

/// Appends the byte-level spelling (UTF-8) of `bytes` to `out`.
void append_spelling(std::string& out, std::string_view bytes);

/// Appends the bytes that `spelling` stands for and returns true; returns false and leaves `out` as it was when a
/// character of `spelling` is not in the table (Hugging Face's ByteLevel decoder then keeps the token as it is).
bool append_bytes(std::string& out, std::string_view spelling);

}  // namespace arrakis::tok::byte_level
