#pragma once
// TransformerLens' tokenizer conveniences (to_tokens, to_string, to_str_tokens, to_single_token) over any Tokenizer.
#include <torch/types.h>

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "arrakis/tokenizer/tokenizer.hpp"

namespace arrakis {

enum class PaddingSide { Right, Left };

struct ToTokensOptions {
  bool prepend_bos = true;  // TransformerLens' default
  PaddingSide padding_side = PaddingSide::Right;
};

/// A batch of token ids [batch, pos] (int64) and its attention mask (1 = real token, 0 = padding).
struct TokenBatch {
  torch::Tensor input_ids;
  torch::Tensor attention_mask;
};

/// Tokenizes each text (BOS first if asked and the tokenizer has one) and pads to the longest with the pad id
/// (the tokenizer's pad, else its eos, else 0).
TokenBatch to_tokens(const Tokenizer& tokenizer, std::span<const std::string> texts,
                     const ToTokensOptions& options = {});
TokenBatch to_tokens(const Tokenizer& tokenizer, std::string_view text, const ToTokensOptions& options = {});

/// The text of a 1-D tensor of ids.
std::string to_string(const Tokenizer& tokenizer, const torch::Tensor& ids);
/// The text of each token on its own, e.g. {"<|endoftext|>", "Hello", " world"}.
std::vector<std::string> to_str_tokens(const Tokenizer& tokenizer, std::span<const int64_t> ids);
std::vector<std::string> to_str_tokens(const Tokenizer& tokenizer, std::string_view text, bool prepend_bos = true);
/// The id of a text that is exactly one token; an arrakis::Error saying how it splits otherwise.
int64_t to_single_token(const Tokenizer& tokenizer, std::string_view text);

}  // namespace arrakis
