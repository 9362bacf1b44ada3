#pragma once
// Unicode regular expressions for pre-tokenizers, on PCRE2. Tokenizer patterns need lookahead (GPT-2's
// `\s+(?!\S)`), which RE2 and std::regex cannot do or do far too slowly; PCRE2 with UTF + UCP matches Python's
// `regex` module and Oniguruma piece for piece on these patterns, and its JIT keeps the split cheap.
//
// \s and \S mean Unicode White_Space, as in Python's regex module and Oniguruma (PCRE2's own \s also takes
// U+180E). Invalid UTF-8 in the subject is allowed (PCRE2_MATCH_INVALID_UTF): an invalid sequence never matches
// any item, so it ends up in the gaps between matches, which split_isolated() keeps as pieces of their own.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "tokenizer/function_ref.hpp"

struct pcre2_real_code_8;  // pcre2.h stays out of this header

namespace arrakis::tok {

class Regex {
 public:
  /// Compiles `pattern` (UTF-8, Python/PCRE syntax); an arrakis::Error naming the pattern and the offset of the
  /// problem when it does not compile.
  explicit Regex(std::string_view pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  Regex(Regex&& other) noexcept;
  Regex& operator=(Regex&& other) noexcept;

  /// The first match at or after byte `start`, as [begin, end) byte offsets; nullopt when there is none.
  /// Lookbehind and lookahead see the whole of `text`.
  std::optional<std::pair<std::size_t, std::size_t>> find(std::string_view text, std::size_t start = 0) const;

  /// Calls on_match(begin, end) for each non-empty match, left to right, without overlap (an empty match is
  /// skipped, and the search goes on one character further, as Python's findall does).
  void for_each_match(std::string_view text, FunctionRef<void(std::size_t, std::size_t)> on_match) const;

  const std::string& pattern() const noexcept { return pattern_; }

 private:
  std::string pattern_;
  pcre2_real_code_8* code_ = nullptr;
  bool jit_ = false;
};

/// Splits `text` into the matches of `regex` and the non-empty gaps between them, in order (Hugging Face's
/// SplitDelimiterBehavior::Isolated). Together the pieces are exactly `text`.
void split_isolated(const Regex& regex, std::string_view text, FunctionRef<void(std::string_view)> emit);

}  // namespace arrakis::tok
