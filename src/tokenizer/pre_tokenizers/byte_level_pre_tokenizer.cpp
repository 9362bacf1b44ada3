#include "tokenizer/pre_tokenizers/byte_level_pre_tokenizer.hpp"

#include <string>

#include "tokenizer/byte_level.hpp"

namespace arrakis::tok {

ByteLevelPreTokenizer::ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
    : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {
  if (use_regex_) gpt2_regex();  // a bad PCRE2 build fails at load time, not mid-encode
}

const Regex& ByteLevelPreTokenizer::gpt2_regex() {
  static const Regex regex(kGpt2Pattern);
  return regex;
}

void ByteLevelPreTokenizer::split(std::string_view text, bool at_start, PieceSink emit) const {
  std::string prefixed;
  if (add_prefix_space_ && !text.starts_with(' ')) {
    prefixed.reserve(text.size() + 1);
    prefixed += ' ';
    prefixed += text;
    text = prefixed;
  }
  std::string spelled;  // reused for every piece
  const std::string_view whole = text;
  const auto respell = [&](std::string_view piece) {
    spelled.clear();
    byte_level::append_spelling(spelled, piece);
    emit(spelled, at_start && piece.data() == whole.data());
  };
  if (use_regex_)
    split_isolated(gpt2_regex(), text, respell);
  else
    respell(text);
}

}  // namespace arrakis::tok
