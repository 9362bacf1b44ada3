#pragma once
// The --prompt / --input-ids options of the model-running commands.
#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "arrakis/model/hooked_transformer.hpp"
#include "cli/input_ids.hpp"

namespace arrakis::cli {

/// The --prompt / --input-ids pair every model-running command takes (one or the other).
void add_token_input_options(CLI::App* cmd, std::optional<std::string>& prompt, std::optional<std::string>& input_ids);
/// From --prompt (tokenized by the model's tokenizer) or --input-ids; exactly one must be given.
TokenInput resolve_input(const HookedTransformer& model, const std::optional<std::string>& prompt,
                         const std::optional<std::string>& input_ids);

}  // namespace arrakis::cli
