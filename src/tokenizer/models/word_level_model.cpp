#include "tokenizer/models/word_level_model.hpp"

#include <fmt/format.h>

#include "arrakis/error.hpp"

namespace arrakis::tok {

WordLevelModel::WordLevelModel(Vocabulary vocab, std::string unk_token)
    : vocab_(std::move(vocab)), unk_token_(std::move(unk_token)), unk_id_(vocab_.find(unk_token_)) {}

void WordLevelModel::encode_word(std::string_view word, std::vector<std::int64_t>& ids) const {
  if (const auto id = vocab_.find(word)) {
    ids.push_back(*id);
    return;
  }
  if (!unk_id_)
    throw Error(
        fmt::format("word-level tokenizer: \"{}\" is not in the vocabulary and its unknown token \"{}\" is not "
                    "either",
                    word, unk_token_));
  ids.push_back(*unk_id_);
}

}  // namespace arrakis::tok
