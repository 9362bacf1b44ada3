#pragma once
// Hugging Face's WordLevel model: each pre-tokenized word is one token of a fixed vocabulary, or the unknown token.
// What a word-level tokenizer.json (such as the IOI demo model's) holds.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/models/model.hpp"
#include "tokenizer/models/vocabulary.hpp"

namespace arrakis::tok {

class WordLevelModel : public Model {
 public:
  /// `unk_token` need not be in the vocabulary, as in Hugging Face: only a word outside it then fails to encode.
  WordLevelModel(Vocabulary vocab, std::string unk_token);

  void encode_word(std::string_view word, std::vector<std::int64_t>& ids) const override;
  std::optional<std::int64_t> token_to_id(std::string_view token) const override { return vocab_.find(token); }
  const std::string* id_to_token(std::int64_t id) const override { return vocab_.token(id); }
  std::int64_t id_end() const override { return vocab_.id_end(); }
  std::string_view name() const override { return "WordLevel"; }

 private:
  Vocabulary vocab_;
  std::string unk_token_;
  std::optional<std::int64_t> unk_id_;
};

}  // namespace arrakis::tok
