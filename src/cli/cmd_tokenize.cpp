// arrakis tokenize: token ids of a text with the tokenizer in a folder (which may hold only tokenizer files).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "arrakis/tokenizer/token_batch.hpp"
#include "arrakis/tokenizer/tokenizer.hpp"
#include "cli/command_output.hpp"
#include "cli/commands.hpp"

namespace arrakis::cli {
namespace {

struct TokenizeArgs {
  std::string model, text;
  bool prepend_bos = false;
  OutputOptions output;
};

CommandReport tokenize(const TokenizeArgs& args) {
  auto tokenizer = load_tokenizer(args.model);
  auto ids = tokenizer->encode(args.text);
  if (args.prepend_bos && tokenizer->special_tokens().bos) ids.insert(ids.begin(), *tokenizer->special_tokens().bos);
  CommandReport report;
  report.json = {{"ids", ids}, {"tokens", to_str_tokens(*tokenizer, ids)}};
  report.print_text = [ids] { fmt::print("{}\n", fmt::join(ids, " ")); };
  return report;
}

}  // namespace

void register_tokenize(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids of a text");
  cmd->add_option("--model", args->model, "Folder holding tokenizer files (a model folder, or tokenizer files only)")
      ->required();
  cmd->add_option("--text", args->text, "The text")->required();
  cmd->add_flag("--prepend-bos", args->prepend_bos, "Put the tokenizer's BOS token first");
  add_output_options(cmd, args->output, {});
  cmd->callback([args] { emit(tokenize(*args), args->output); });
}

}  // namespace arrakis::cli
