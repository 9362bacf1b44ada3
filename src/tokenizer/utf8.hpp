#pragma once
// UTF-8 walking and repair. Input text may hold invalid UTF-8 (files are bytes); the tokenizer must never read past
// a truncated sequence, and decoded text is repaired the way Python's errors="replace" and Rust's from_utf8_lossy do
// (one U+FFFD per maximal invalid subpart), which is what Hugging Face and OpenAI's decoders return.
#include <cstddef>
#include <string>
#include <string_view>

namespace arrakis::tok {

/// One step through UTF-8 text: a valid character of `length` bytes, or an invalid run of `length` bytes (the
/// maximal subpart of an ill-formed sequence, at least 1 byte).
struct Utf8Step {
  std::size_t length;
  bool valid;
  char32_t code_point;  // U+FFFD when !valid
};

/// The character (or invalid run) starting at byte `pos` of `text` (pos < text.size()).
Utf8Step utf8_step(std::string_view text, std::size_t pos) noexcept;

/// The byte offset where the character ending just before `pos` starts (pos > 0); a lone byte when the text before
/// `pos` does not end with a valid character.
std::size_t utf8_previous(std::string_view text, std::size_t pos) noexcept;

bool is_valid_utf8(std::string_view text) noexcept;

/// `text` with each maximal invalid subpart replaced by U+FFFD (returned unchanged when already valid).
std::string to_valid_utf8(std::string text);

void append_utf8(std::string& out, char32_t code_point);

/// U+XXXX, for error messages about characters.
std::string code_point_name(char32_t code_point);

}  // namespace arrakis::tok
