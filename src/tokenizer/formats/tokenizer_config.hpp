#pragma once
// What Hugging Face keeps beside the vocabulary: tokenizer_config.json (special tokens, added_tokens_decoder,
// add_prefix_space), special_tokens_map.json (special tokens; it wins over tokenizer_config.json, as in
// transformers) and added_tokens.json (older added tokens). All optional.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "arrakis/tokenizer/tokenizer.hpp"
#include "tokenizer/added_tokens/added_vocabulary.hpp"
#include "tokenizer/formats/json_file.hpp"

namespace arrakis::tok {

/// A special-token role as a config file names it: its content, or nullopt where the file says null.
struct SpecialTokenMention {
  std::optional<std::string> content;
  std::filesystem::path file;
};

struct TokenizerConfig {
  std::optional<SpecialTokenMention> bos, eos, pad, unk;  // nullopt: no file mentions the role
  std::vector<AddedToken> added_tokens;                   // added_tokens_decoder, then added_tokens.json
  std::optional<bool> add_prefix_space;
};

/// One added token as Hugging Face writes it ({"content", "special", "single_word", "lstrip", "rstrip",
/// "normalized"}), with id `id`; an arrakis::Error naming `place` when it is malformed.
AddedToken read_added_token(const Json& value, std::int64_t id, const JsonPlace& place);

/// Reads the files of `dir` that exist; an arrakis::Error naming the file when one is malformed.
TokenizerConfig read_tokenizer_config(const std::filesystem::path& dir);

/// The special tokens of `tokenizer`: each role the config names is looked up (an arrakis::Error naming the file
/// when the token is not in the vocabulary); a role it does not mention gets `default_id`, and so does pad
/// (TransformerLens pads with the end-of-text token when there is no pad token). GPT-2's loaders pass the id of
/// "<|endoftext|>", which is GPT-2's bos, eos and unk.
SpecialTokens resolve_special_tokens(const TokenizerConfig& config, const Tokenizer& tokenizer,
                                     std::optional<std::int64_t> default_id);

}  // namespace arrakis::tok
