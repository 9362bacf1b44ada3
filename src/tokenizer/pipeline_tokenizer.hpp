#pragma once
// A tokenizer assembled from Hugging Face's components: added tokens, normalizer, pre-tokenizer, model, decoder.
// Encoding: added tokens are cut out of the text, each stretch between them is normalized, split into pieces and
// each piece encoded by the model. Decoding: ids to spellings, then the decoder. Every loader (tokenizer.json,
// vocab.json + merges.txt, ...) builds one of these; a new format or family only adds components.
#include <filesystem>
#include <memory>
#include <string>

#include "arrakis/tokenizer/tokenizer.hpp"
#include "tokenizer/added_tokens/added_vocabulary.hpp"
#include "tokenizer/decoders/decoder.hpp"
#include "tokenizer/models/model.hpp"
#include "tokenizer/normalizers/normalizer.hpp"
#include "tokenizer/pre_tokenizers/pre_tokenizer.hpp"

namespace arrakis::tok {

struct Pipeline {
  std::unique_ptr<Normalizer> normalizer;       // null: text as it is
  std::unique_ptr<PreTokenizer> pre_tokenizer;  // null: each stretch of text is one piece
  std::unique_ptr<Model> model;                 // required
  std::unique_ptr<Decoder> decoder;             // null: spellings joined with spaces (as Hugging Face does)
  AddedVocabulary added;
};

class PipelineTokenizer final : public Tokenizer {
 public:
  /// `kind` and `source` make describe(): "KIND (N tokens) from SOURCE".
  PipelineTokenizer(Pipeline pipeline, std::string kind, std::filesystem::path source);

  std::vector<std::int64_t> encode(std::string_view text) const override;
  std::string decode(std::span<const std::int64_t> ids, bool skip_special = false) const override;
  std::int64_t vocab_size() const override { return vocab_size_; }
  std::optional<std::int64_t> token_to_id(std::string_view token) const override;
  std::string id_to_token(std::int64_t id) const override;
  const SpecialTokens& special_tokens() const override { return special_; }
  std::string describe() const override;

  /// Set once while loading (the ids are looked up through this tokenizer).
  void set_special_tokens(const SpecialTokens& special) { special_ = special; }

 private:
  // `at_start`: the text begins the original text (see PieceSink).
  void encode_stretch(std::string_view text, bool at_start, std::vector<std::int64_t>& ids) const;
  void encode_normalized(std::string_view text, bool at_start, std::vector<std::int64_t>& ids) const;
  const std::string* spelling(std::int64_t id) const;
  [[noreturn]] void throw_unknown_id(std::int64_t id) const;

  Pipeline pipeline_;
  std::string kind_;
  std::filesystem::path source_;
  std::int64_t vocab_size_;
  SpecialTokens special_;
};

}  // namespace arrakis::tok
