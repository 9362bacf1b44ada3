// arrakis prompts ioi --n N --seed S --corruption flip|replace-names|abc|none --out FILE.jsonl: an IOI prompt set with
// per-prompt answers (and corrupted prompts), in the JSON Lines layout --prompts reads (docs/ioi.md).
#include <fmt/format.h>

#include "arrakis/analysis/ioi_prompts.hpp"
#include "cli/command_output.hpp"
#include "cli/commands.hpp"

namespace arrakis::cli {

namespace {

struct IoiPromptsArgs {
  IoiPromptOptions options;
  std::string corruption = "flip";
  std::string out;
  OutputOptions output;
};

CommandReport ioi_prompts(IoiPromptsArgs& args) {
  args.options.corruption = parse_ioi_corruption(args.corruption);
  const auto set = ioi_prompt_set(args.options);
  set.write_jsonl(args.out);
  CommandReport report;
  report.json = {{"prompts", set.prompts.size()},
                 {"corruption", args.corruption},
                 {"seed", args.options.seed},
                 {"out", args.out},
                 {"first", set.prompts.front().to_json()}};
  report.print_text = [json = report.json] {
    fmt::print("wrote {} IOI prompts ({} corruption) to {}; the first: {}\n", json["prompts"].get<std::size_t>(),
               json["corruption"].get<std::string>(), json["out"].get<std::string>(), json["first"].dump());
  };
  return report;
}

}  // namespace

void register_prompts(CLI::App& app) {
  auto* group = app.add_subcommand("prompts", "Prompt sets with per-prompt answers (JSON Lines)");
  group->require_subcommand(1);
  auto args = std::make_shared<IoiPromptsArgs>();
  auto* cmd = group->add_subcommand("ioi", "Indirect-object-identification prompts from templates, ABBA and BABA");
  cmd->add_option("--n", args->options.n_prompts, "Prompts")->capture_default_str();
  cmd->add_option("--seed", args->options.seed, "Seed of the templates, names, places and objects")
      ->capture_default_str();
  cmd->add_option("--corruption", args->corruption, "The corrupted prompt: flip, replace-names, abc or none")
      ->capture_default_str();
  cmd->add_option("--answer-prefix", args->options.answer_prefix,
                  "Written before each answer (\" \" for GPT-2-style tokens, \"\" for a word-level vocabulary)")
      ->capture_default_str();
  cmd->add_option("--out", args->out, "The .jsonl file to write")->required();
  add_output_options(cmd, args->output, {});
  cmd->callback([args] { emit(ioi_prompts(*args), args->output); });
}

}  // namespace arrakis::cli
