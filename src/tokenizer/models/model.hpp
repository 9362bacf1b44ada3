#pragma once
// The tokenization model: turns one pre-tokenized piece ("word") into token ids, and owns the vocabulary.
// Hugging Face's Model component: BPE and WordLevel (SentencePiece models load through libsentencepiece).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/formats/json_file.hpp"

namespace arrakis::tok {

class Model {
 public:
  virtual ~Model() = default;
  /// Appends the ids of `word` (non-empty) to `ids`.
  virtual void encode_word(std::string_view word, std::vector<std::int64_t>& ids) const = 0;
  virtual std::optional<std::int64_t> token_to_id(std::string_view token) const = 0;
  /// The spelling of `id`, or nullptr when the model has no such id.
  virtual const std::string* id_to_token(std::int64_t id) const = 0;
  /// One more than the largest id.
  virtual std::int64_t id_end() const = 0;
  /// The algorithm's name, e.g. "BPE".
  virtual std::string_view name() const = 0;
};

/// The model of a tokenizer.json ("model": {"type": "BPE", ...}); an arrakis::Error naming the type and the file
/// for a type not supported.
std::unique_ptr<Model> make_model(const Json& spec, const JsonPlace& place);

}  // namespace arrakis::tok
