#pragma once
// A model's token <-> id table. Ids index a dense array (decoding is a lookup); tokens are found by string_view.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/formats/json_file.hpp"
#include "tokenizer/string_map.hpp"

namespace arrakis::tok {

class Vocabulary {
 public:
  void reserve(std::size_t count);
  /// Adds `token` with `id` (0 <= id < 2^31). A second token with the same id keeps the first as the id's
  /// spelling (both still encode to the id), as Hugging Face does. Returns false when `token` was already present.
  bool add(std::string token, std::int64_t id);

  std::optional<std::int64_t> find(std::string_view token) const {
    const auto it = ids_.find(token);
    return it == ids_.end() ? std::nullopt : std::optional<std::int64_t>(it->second);
  }
  /// The spelling of `id`, or nullptr when no token has that id.
  const std::string* token(std::int64_t id) const noexcept {
    if (id < 0 || id >= static_cast<std::int64_t>(tokens_.size()) || !present_[static_cast<std::size_t>(id)])
      return nullptr;
    return &tokens_[static_cast<std::size_t>(id)];
  }
  /// One more than the largest id (the embedding rows a model needs).
  std::int64_t id_end() const noexcept { return static_cast<std::int64_t>(tokens_.size()); }

 private:
  StringMap<std::int64_t> ids_;
  std::vector<std::string> tokens_;
  std::vector<bool> present_;
};

/// A vocabulary written as a JSON object of token: id (vocab.json, encoder.json, tokenizer.json's model.vocab);
/// an arrakis::Error naming `place` when an entry is not a plausible id (ids far beyond the number of tokens
/// would make the id table huge; real vocabularies are dense).
Vocabulary vocabulary_from_json(const Json& json, const JsonPlace& place);

}  // namespace arrakis::tok
