#include "tokenizer/added_tokens/added_vocabulary.hpp"

#include <algorithm>

#include "tokenizer/pre_tokenizers/regex.hpp"
#include "tokenizer/utf8.hpp"

namespace arrakis::tok {

namespace {

bool ascii(char c) { return static_cast<unsigned char>(c) < 0x80; }

// Classifies one character (`ch` holds exactly one); ASCII without the regex engine.
bool is_word_char(std::string_view ch) {
  if (ch.size() == 1 && ascii(ch[0]))
    return (ch[0] >= '0' && ch[0] <= '9') || (ch[0] >= 'A' && ch[0] <= 'Z') || (ch[0] >= 'a' && ch[0] <= 'z') ||
           ch[0] == '_';
  static const Regex word(R"(\A[\p{L}\p{Nl}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D}]\z)");
  return word.find(ch).has_value();
}

bool is_space_char(std::string_view ch) {
  if (ch.size() == 1 && ascii(ch[0])) return ch[0] == ' ' || (ch[0] >= '\t' && ch[0] <= '\r');
  static const Regex space(R"(\A\s\z)");
  return space.find(ch).has_value();
}

bool ends_with_word(std::string_view text, std::size_t end) {
  if (end == 0) return false;
  const std::size_t begin = utf8_previous(text, end);
  return is_word_char(text.substr(begin, end - begin));
}

bool starts_with_word(std::string_view text, std::size_t begin) {
  if (begin >= text.size()) return false;
  return is_word_char(text.substr(begin, utf8_step(text, begin).length));
}

// Where the whitespace run that ends at `end` starts.
std::size_t whitespace_start_before(std::string_view text, std::size_t end) {
  while (end > 0) {
    const std::size_t begin = utf8_previous(text, end);
    if (!is_space_char(text.substr(begin, end - begin))) break;
    end = begin;
  }
  return end;
}

// Where the whitespace run that starts at `begin` ends.
std::size_t whitespace_end_after(std::string_view text, std::size_t begin) {
  while (begin < text.size()) {
    const std::size_t length = utf8_step(text, begin).length;
    if (!is_space_char(text.substr(begin, length))) break;
    begin += length;
  }
  return begin;
}

}  // namespace

AddedVocabulary::AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer) {
  for (AddedToken& token : tokens) {
    if (token.content.empty()) continue;
    if (const auto it = by_content_.find(token.content); it != by_content_.end()) {
      by_id_.erase(tokens_[it->second].id);
      tokens_[it->second] = std::move(token);
      by_id_[tokens_[it->second].id] = it->second;
      continue;
    }
    by_content_.emplace(token.content, tokens_.size());
    by_id_[token.id] = tokens_.size();
    tokens_.push_back(std::move(token));
  }
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    const AddedToken& token = tokens_[i];
    id_end_ = std::max(id_end_, token.id + 1);
    if (!token.normalized) {
      raw_.add(token.content, i);
    } else if (normalizer) {
      std::string spelled = token.content;
      normalizer->normalize(spelled);
      normalized_.add(spelled, i);
    } else {
      normalized_.add(token.content, i);
    }
  }
}

void AddedVocabulary::split(std::string_view text, Pass pass, FunctionRef<void(std::string_view)> on_text,
                            FunctionRef<void(std::int64_t)> on_token) const {
  const TokenTrie& trie = pass == Pass::Raw ? raw_ : normalized_;
  std::size_t done = 0;    // text before this is handed on
  std::size_t search = 0;  // at or after done: also past the whitespace an rstrip token took
  while (const auto match = trie.find(text, search)) {
    const AddedToken& token = tokens_[match->value];
    std::size_t begin = match->begin;
    std::size_t end = match->end;
    search = end;  // a discarded match is not searched again from within (as Hugging Face's matcher)
    if (token.single_word && (ends_with_word(text, begin) || starts_with_word(text, end))) continue;
    if (token.lstrip) begin = std::max(whitespace_start_before(text, begin), done);
    if (token.rstrip) end = whitespace_end_after(text, end);
    if (begin > done) on_text(text.substr(done, begin - done));
    on_token(token.id);
    done = search = end;
  }
  if (done < text.size()) on_text(text.substr(done));
}

const AddedToken* AddedVocabulary::by_id(std::int64_t id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

std::optional<std::int64_t> AddedVocabulary::token_to_id(std::string_view content) const {
  const auto it = by_content_.find(content);
  return it == by_content_.end() ? std::nullopt : std::optional<std::int64_t>(tokens_[it->second].id);
}

const std::string* AddedVocabulary::id_to_token(std::int64_t id) const {
  const AddedToken* token = by_id(id);
  return token ? &token->content : nullptr;
}

bool AddedVocabulary::is_special(std::int64_t id) const {
  const AddedToken* token = by_id(id);
  return token && token->special;
}

}  // namespace arrakis::tok
