#pragma once
// Reading token ids from the command line: "1,2,3" (one sequence) or a safetensors file holding int64 `input_ids`
// [batch, pos] (and optionally `attention_mask`).
#include <torch/types.h>
#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "arrakis/model/hooked_transformer.hpp"

namespace arrakis::cli {

struct TokenInput {
  torch::Tensor input_ids;       // [batch, pos] int64
  torch::Tensor attention_mask;  // undefined when there is no padding
};

TokenInput parse_input_ids(const std::string& spec);
/// The --prompt / --input-ids pair every model-running command takes (one or the other).
void add_token_input_options(CLI::App* cmd, std::optional<std::string>& prompt, std::optional<std::string>& input_ids);
/// From --prompt (tokenized by the model's tokenizer) or --input-ids; exactly one must be given.
TokenInput resolve_input(const HookedTransformer& model, const std::optional<std::string>& prompt,
                         const std::optional<std::string>& input_ids);

}  // namespace arrakis::cli
