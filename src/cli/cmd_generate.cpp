// arrakis generate: continue a prompt with a key/value cache (temperature / top-k / top-p sampling, seeded), printing
// tokens as they come; --json prints the ids and texts as one object.
#include <fmt/format.h>

#include <limits>

#include <iostream>
#include <nlohmann/json.hpp>

#include "arrakis/error.hpp"
#include "arrakis/model/generation.hpp"
#include "arrakis/model/loading.hpp"
#include "cli/command_output.hpp"
#include "cli/commands.hpp"
#include "cli/model_options.hpp"
#include "cli/terminal_text.hpp"
#include "cli/token_input.hpp"
#include "cli/validators.hpp"

namespace arrakis::cli {
namespace {

struct GenerateArgs {
  ModelOptions model;
  std::optional<std::string> prompt, input_ids, stop;
  int64_t max_new_tokens = 32;
  double temperature = 1.0, top_p = 1.0;
  int64_t top_k = 0;
  uint64_t seed = 0;
  bool greedy = false;
  OutputOptions output;
};

/// --stop "13,50256" or "\n": ids when every item is a number, else single tokens of the model's vocabulary.
std::vector<int64_t> parse_stop_tokens(const HookedTransformer& model, const std::string& spec) {
  std::vector<int64_t> ids;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    std::string item = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) {
      char* end = nullptr;
      long long id = std::strtoll(item.c_str(), &end, 10);
      if (end && *end == '\0')
        ids.push_back(id);
      else if (model.has_tokenizer())
        ids.push_back(model.to_single_token(item));
      else
        throw Error(fmt::format("--stop: '{}' is not a token id and the model has no tokenizer", item));
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return ids;
}

// Text output of one sequence streams while it is generated (a person watches it grow); the report then only ends
// the line. Everything else is reported when generation is done.
CommandReport generate_command(const GenerateArgs& args) {
  torch::NoGradGuard no_grad;
  auto model = load_model(args.model);
  auto input = resolve_input(model, args.prompt, args.input_ids);
  GenerateOptions options;
  options.max_new_tokens = args.max_new_tokens;
  options.temperature = args.greedy ? 0.0 : args.temperature;
  options.top_k = args.top_k;
  options.top_p = args.top_p;
  options.seed = args.seed;
  if (args.stop) options.stop_tokens = parse_stop_tokens(model, *args.stop);
  const bool stream = !args.output.json && input.input_ids.size(0) == 1 && model.has_tokenizer();
  // Streaming prints the growth of the decoded text, not each token decoded alone: SentencePiece-style decoders
  // drop a token's leading space when it stands alone.
  std::vector<int64_t> sequence;
  std::string shown;
  if (stream) {
    auto prompt_ids = input.input_ids[0].contiguous();
    sequence.assign(prompt_ids.data_ptr<int64_t>(), prompt_ids.data_ptr<int64_t>() + prompt_ids.numel());
    shown = model.tokenizer().decode(sequence, /*skip_special=*/true);
    std::cout << terminal_safe(shown) << std::flush;
    options.on_step = [&](int64_t, const torch::Tensor& next) {
      sequence.push_back(next.view({-1})[0].item<int64_t>());
      std::string text = model.tokenizer().decode(sequence, /*skip_special=*/true);
      if (text.starts_with(shown)) std::cout << terminal_safe(text.substr(shown.size())) << std::flush;
      shown = std::move(text);
    };
  }
  auto result = generate(model, input.input_ids, options, input.attention_mask);
  nlohmann::json out;
  out["prompt_length"] = result.prompt_length;
  out["generated_lengths"] = result.generated_lengths;
  auto tokens = result.tokens.contiguous();
  std::vector<std::vector<int64_t>> rows;
  for (int64_t b = 0; b < tokens.size(0); ++b) {
    auto row = tokens[b];
    rows.emplace_back(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel());
  }
  out["tokens"] = rows;
  if (!result.texts.empty()) out["texts"] = result.texts;
  CommandReport report;
  report.json = std::move(out);
  if (stream) {
    report.print_text = [] { std::cout << "\n"; };
  } else {
    report.print_text = [rows, texts = result.texts] {
      for (size_t b = 0; b < rows.size(); ++b)
        fmt::print("sequence {}: {}\n", b,
                   texts.empty() ? fmt::format("{}", fmt::join(rows[b], ",")) : terminal_safe(texts[b]));
    };
  }
  return report;
}

}  // namespace

void register_generate(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  auto* cmd = app.add_subcommand("generate", "Continue a prompt (key/value cache; greedy or sampled, seeded)");
  add_model_options(cmd, args->model);
  add_token_input_options(cmd, args->prompt, args->input_ids);
  cmd->add_option("--max-new-tokens", args->max_new_tokens, "Tokens to add")->check(integer_in(1, kMaxCount));
  cmd->add_option("--temperature", args->temperature, "Softmax temperature (0: greedy)")->check(number_in(0.0, 1e6));
  cmd->add_option("--top-k", args->top_k, "Sample among the k most likely tokens (0: all)")
      ->check(integer_in(0, kMaxCount));
  cmd->add_option("--top-p", args->top_p, "Nucleus sampling: the smallest set with this probability")
      ->check(number_in(0.0, 1.0));
  cmd->add_option("--seed", args->seed, "Sampling seed (the same seed gives the same text)")
      ->check(integer_in(0, std::numeric_limits<int64_t>::max()));
  cmd->add_option("--stop", args->stop, "Stop tokens: comma-separated ids or single-token strings");
  cmd->add_flag("--greedy", args->greedy, "Always take the most likely token (same as --temperature 0)");
  add_output_options(cmd, args->output, {});
  cmd->callback([args] { emit(generate_command(*args), args->output); });
}

}  // namespace arrakis::cli
