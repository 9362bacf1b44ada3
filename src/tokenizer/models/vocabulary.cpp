#include "tokenizer/models/vocabulary.hpp"

#include <fmt/format.h>

namespace arrakis::tok {

void Vocabulary::reserve(std::size_t count) {
  ids_.reserve(count);
  tokens_.reserve(count);
  present_.reserve(count);
}

bool Vocabulary::add(std::string token, std::int64_t id) {
  const auto index = static_cast<std::size_t>(id);
  if (index >= tokens_.size()) {
    tokens_.resize(index + 1);
    present_.resize(index + 1, false);
  }
  if (!present_[index]) {
    tokens_[index] = token;
    present_[index] = true;
  }
  return ids_.emplace(std::move(token), id).second;
}

Vocabulary vocabulary_from_json(const Json& json, const JsonPlace& place) {
  if (!json.is_object()) place.fail(fmt::format("expected an object of token: id, found {}", json_type_name(json)));
  if (json.empty()) place.fail("the vocabulary is empty: no text could be encoded");
  const std::uint64_t id_limit = 2 * static_cast<std::uint64_t>(json.size()) + 65536;
  Vocabulary vocab;
  vocab.reserve(json.size());
  for (const auto& [token, value] : json.items()) {
    if (value.is_number_unsigned() && value.get<std::uint64_t>() < id_limit) {
      vocab.add(token, value.get<std::int64_t>());
      continue;
    }
    // The place is only spelled out here: building it for each of 100k entries would cost more than the parse.
    const JsonPlace entry = place / fmt::format("\"{}\"", token);
    const std::int64_t id = as_token_id(value, entry);
    if (static_cast<std::uint64_t>(id) >= id_limit)
      entry.fail(fmt::format("id {} is far beyond the {} tokens of the vocabulary", id, json.size()));
    vocab.add(token, id);
  }
  return vocab;
}

}  // namespace arrakis::tok
