#pragma once
// Added tokens: tokens matched in the text before it is split, so that e.g. "<|endoftext|>" becomes one special
// token instead of "<", "|", "endoftext", ... (Hugging Face's AddedVocabulary).
//
// As in Hugging Face: tokens with normalized = false are matched in the raw text first; the text between them is
// normalized, and the tokens with normalized = true are matched in that (their content normalized the same way).
// Matching is leftmost-longest. single_word: only where the token is not inside a word (no word character right
// before or after it). lstrip / rstrip: the match also takes the whitespace on its left / right. Word and
// whitespace characters are Unicode ones, as Rust's regex \w and \s (PCRE2 classes approximate \w's Alphabetic
// property by letters, marks, Nl, Nd, Pc and the joiners).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/added_tokens/token_trie.hpp"
#include "tokenizer/function_ref.hpp"
#include "tokenizer/normalizers/normalizer.hpp"
#include "tokenizer/string_map.hpp"

namespace arrakis::tok {

struct AddedToken {
  std::int64_t id = 0;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

class AddedVocabulary {
 public:
  enum class Pass { Raw, Normalized };

  AddedVocabulary() = default;
  /// `normalizer` (may be null) spells the normalized tokens as they appear in normalized text. Tokens with empty
  /// content are ignored; a content given twice keeps the later entry.
  AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer);

  /// Whether any token is matched in `pass`.
  bool matches_in(Pass pass) const noexcept { return !(pass == Pass::Raw ? raw_ : normalized_).empty(); }

  /// Walks `text` left to right: on_text for each non-empty stretch between tokens, on_token for each token of
  /// `pass` found.
  void split(std::string_view text, Pass pass, FunctionRef<void(std::string_view)> on_text,
             FunctionRef<void(std::int64_t)> on_token) const;

  std::optional<std::int64_t> token_to_id(std::string_view content) const;
  const std::string* id_to_token(std::int64_t id) const;
  bool is_special(std::int64_t id) const;
  /// One more than the largest id (0 when there are no added tokens).
  std::int64_t id_end() const noexcept { return id_end_; }

 private:
  const AddedToken* by_id(std::int64_t id) const;

  std::vector<AddedToken> tokens_;
  StringMap<std::size_t> by_content_;
  std::unordered_map<std::int64_t, std::size_t> by_id_;
  TokenTrie raw_, normalized_;
  std::int64_t id_end_ = 0;
};

}  // namespace arrakis::tok
