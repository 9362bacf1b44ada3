#include "cli/token_input.hpp"

#include "arrakis/error.hpp"

namespace arrakis::cli {

void add_token_input_options(CLI::App* cmd, std::optional<std::string>& prompt, std::optional<std::string>& input_ids) {
  auto* text = cmd->add_option("--prompt", prompt,
                               "Text to tokenize with the model's tokenizer (BOS first when the "
                               "model prepends one)");
  auto* ids = cmd->add_option("--input-ids", input_ids,
                              "Comma-separated ids (one sequence) or a .safetensors file holding int64 input_ids "
                              "[batch, pos] (and optionally attention_mask, for padding)");
  text->excludes(ids);
}

TokenInput resolve_input(const HookedTransformer& model, const std::optional<std::string>& prompt,
                         const std::optional<std::string>& input_ids) {
  if (prompt.has_value() == input_ids.has_value()) throw Error("give exactly one of --prompt and --input-ids");
  if (input_ids) return parse_input_ids(*input_ids);
  return {model.to_tokens(*prompt), {}};
}

}  // namespace arrakis::cli
