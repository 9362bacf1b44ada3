#pragma once
// What Split and Replace look for: a literal string or a regular expression, written in tokenizer.json as
// {"String": "..."} or {"Regex": "..."}. Matches are found left to right without overlap, as Hugging Face's
// find_matches does (a literal is searched for as the escaped regex of itself; an empty literal matches nowhere).
#include <string>
#include <string_view>
#include <variant>

#include "tokenizer/formats/json_file.hpp"
#include "tokenizer/function_ref.hpp"
#include "tokenizer/pre_tokenizers/regex.hpp"

namespace arrakis::tok {

class Pattern {
 public:
  static Pattern literal(std::string text);
  /// An arrakis::Error naming the pattern when it does not compile.
  static Pattern regex(std::string_view pattern);

  /// Calls on_match(begin, end) for each non-empty match, left to right, without overlap. (A regex match of the
  /// empty string splits nothing here; no tokenizer's pattern can match the empty string.)
  void for_each_match(std::string_view text, FunctionRef<void(std::size_t, std::size_t)> on_match) const;

  bool is_regex() const noexcept { return std::holds_alternative<Regex>(matcher_); }
  /// The pattern as tokenizer.json writes it, for messages.
  std::string describe() const;

 private:
  explicit Pattern(std::variant<std::string, Regex> matcher) : matcher_(std::move(matcher)) {}
  std::variant<std::string, Regex> matcher_;
};

/// {"String": "..."} or {"Regex": "..."}; an arrakis::Error naming `place` otherwise.
Pattern pattern_from_json(const Json& spec, const JsonPlace& place);

/// `text` with every match of `pattern` replaced by `content` (Hugging Face's Replace).
std::string replace_all(const Pattern& pattern, std::string_view text, std::string_view content);

}  // namespace arrakis::tok
