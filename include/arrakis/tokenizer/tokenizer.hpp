#pragma once
// Tokenizers: one interface, one implementation per algorithm family, chosen from the files in a folder.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace arrakis {

/// Ids of the tokens a model treats specially; absent where the tokenizer has none.
struct SpecialTokens {
  std::optional<int64_t> bos, eos, pad, unk;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  /// Token ids of `text`, without BOS or any other token added.
  virtual std::vector<int64_t> encode(std::string_view text) const = 0;
  /// The text of `ids`. Special tokens are written as their text unless `skip_special`.
  /// An id outside the vocabulary is an arrakis::Error naming the id and the vocabulary size.
  virtual std::string decode(std::span<const int64_t> ids, bool skip_special = false) const = 0;

  virtual int64_t vocab_size() const = 0;
  /// The id of a vocabulary entry, spelled as the vocabulary spells it (e.g. "Ġthe" for GPT-2).
  virtual std::optional<int64_t> token_to_id(std::string_view token) const = 0;
  /// The vocabulary entry of an id, spelled as the vocabulary spells it.
  virtual std::string id_to_token(int64_t id) const = 0;
  virtual const SpecialTokens& special_tokens() const = 0;
  /// What was loaded from where, e.g. "byte-level BPE (50257 tokens) from DIR/tokenizer.json".
  virtual std::string describe() const = 0;
};

/// Loads the tokenizer found in `dir`, the first of: tokenizer.json (Hugging Face), tokenizer.model (SentencePiece),
/// vocab.json + merges.txt or encoder.json + vocab.bpe (GPT-2's BPE files), tokenizer.bin or a tok*.bin that
/// parses as one (llama2.c). Throws arrakis::Error naming the folder and the files it looked for when there is
/// none, or naming the file and what is wrong when one does not parse.
std::shared_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& dir);
/// As load_tokenizer, but nullptr when the folder holds no tokenizer files at all.
std::shared_ptr<Tokenizer> try_load_tokenizer(const std::filesystem::path& dir);

}  // namespace arrakis
