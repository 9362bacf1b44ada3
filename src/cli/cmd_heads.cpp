// arrakis heads: previous-token, duplicate-token and induction scores (and attention entropy) of every head, on
// token ids that repeat with a known period or on seeded repeated random sequences.
#include <fmt/format.h>

#include <limits>

#include <nlohmann/json.hpp>

#include "arrakis/analysis/head_detectors.hpp"
#include "arrakis/error.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/head.hpp"
#include "arrakis/model/loading.hpp"
#include "arrakis/plots/figure.hpp"
#include "cli/command_output.hpp"
#include "cli/commands.hpp"
#include "cli/model_options.hpp"
#include "cli/tensor_json.hpp"
#include "cli/token_input.hpp"
#include "cli/validators.hpp"

namespace arrakis::cli {
namespace {

struct HeadsArgs {
  ModelOptions model;
  std::optional<std::string> input_ids;
  std::optional<int64_t> period;
  int64_t offset = 0, batch = 8, repeats = 2;
  uint64_t seed = 0;
  OutputOptions output;
};

CommandReport heads_report(const HeadsArgs& args) {
  auto model = load_model(args.model);
  const auto& c = model.config();
  torch::Tensor tokens;
  int64_t period = 0, offset = args.offset;
  if (args.input_ids) {
    if (!args.period) throw Error("--input-ids needs --period T (the length of the repeated segment)");
    auto input = parse_input_ids(*args.input_ids);
    if (input.attention_mask.defined() && (input.attention_mask == 0).any().item<bool>())
      throw Error("heads: padded input is not supported (the periods would not line up); give unpadded sequences");
    tokens = input.input_ids;
    period = *args.period;
  } else {
    // Repeats must fit the context: (bos +) period * repeats <= n_ctx.
    std::optional<int64_t> bos;
    if (model.has_tokenizer()) bos = model.tokenizer().special_tokens().bos;
    const int64_t room = c.n_ctx - (bos ? 1 : 0);
    period = args.period.value_or(std::min<int64_t>(20, room / args.repeats));
    if (period < 1 || period * args.repeats > room)
      throw Error(fmt::format("--period {} x --repeats {} does not fit the model's context of {} tokens", period,
                              args.repeats, c.n_ctx));
    tokens = repeated_random_sequences({.batch = args.batch,
                                        .period = period,
                                        .repeats = args.repeats,
                                        .high = c.d_vocab,
                                        .seed = args.seed,
                                        .bos = bos});
    offset = bos ? 1 : 0;
  }
  auto scores = head_scores(model, tokens, {.period = period, .offset = offset});

  CommandReport report;
  report.tensors = {{"previous_token", scores.previous_token},
                    {"duplicate_token", scores.duplicate_token},
                    {"induction", scores.induction},
                    {"entropy", scores.entropy},
                    {"input_ids", tokens}};
  report.metadata = {{"period", std::to_string(period)}, {"offset", std::to_string(offset)}};
  auto add = [&](const char* title, const torch::Tensor& values, const char* value_title, const char* caption) {
    report.figures.push_back({.title = title,
                              .body = Heatmap{.values = values,
                                              .rows = {.title = "layer"},
                                              .cols = {.title = "head"},
                                              .colour = ColourScale::sequential,
                                              .value_title = value_title},
                              .caption = caption});
  };
  add("Previous-token score", scores.previous_token, "mean attention",
      "Mean attention from each position to the one before it.");
  add("Duplicate-token score", scores.duplicate_token, "mean attention",
      "Mean attention from a repeated token to its earlier occurrence.");
  add("Induction score", scores.induction, "mean attention",
      "Mean attention from a repeated token to the token after its earlier occurrence (the induction stripe).");
  add("Attention entropy", scores.entropy, "entropy (nats)",
      "Mean entropy of each head's attention pattern: low is focused, high is spread out.");
  report.figure_title = fmt::format("{}: attention heads (period {})", c.model_name, period);
  report.json = {{"previous_token", tensor_json(scores.previous_token)},
                 {"duplicate_token", tensor_json(scores.duplicate_token)},
                 {"induction", tensor_json(scores.induction)},
                 {"entropy", tensor_json(scores.entropy)},
                 {"period", period},
                 {"offset", offset},
                 {"batch", tokens.size(0)},
                 {"positions", tokens.size(1)}};
  if (!args.input_ids) report.json["seed"] = args.seed;
  report.print_text = [scores, c, batch = tokens.size(0), positions = tokens.size(1), period,
                       source = args.input_ids ? std::string()
                                               : fmt::format(" (seeded repeated random tokens, seed {})", args.seed)] {
    fmt::print("{}: {} sequence{} of {} tokens, period {}{}\n", c.model_name, batch, batch == 1 ? "" : "s", positions,
               period, source);
    fmt::print("{:>5} {:>4} {:>10} {:>10} {:>10} {:>8}\n", "layer", "head", "prev-tok", "duplicate", "induction",
               "entropy");
    for (int64_t l = 0; l < c.n_layers; ++l)
      for (int64_t h = 0; h < c.n_heads; ++h)
        fmt::print("{:>5} {:>4} {:>10.4f} {:>10.4f} {:>10.4f} {:>8.3f}\n", l, h,
                   scores.previous_token[l][h].item<double>(), scores.duplicate_token[l][h].item<double>(),
                   scores.induction[l][h].item<double>(), scores.entropy[l][h].item<double>());
    auto best = [&](const torch::Tensor& s, const char* what) {
      auto i = s.argmax().item<int64_t>();
      fmt::print("strongest {} head: {} ({:.3f})\n", what,
                 Head{static_cast<int>(i / c.n_heads), static_cast<int>(i % c.n_heads)}.label(),
                 s.flatten()[i].item<double>());
    };
    best(scores.previous_token, "previous-token");
    best(scores.duplicate_token, "duplicate-token");
    best(scores.induction, "induction");
  };
  return report;
}

}  // namespace

void register_heads(CLI::App& app) {
  auto args = std::make_shared<HeadsArgs>();
  auto* cmd = app.add_subcommand("heads", "Previous-token, duplicate-token and induction scores of every head");
  add_model_options(cmd, args->model);
  cmd->add_option("--input-ids", args->input_ids,
                  "Token ids that repeat with period --period: comma-separated (one sequence) or a .safetensors "
                  "file with int64 input_ids [batch, pos]. Default: seeded repeated random sequences");
  cmd->add_option("--period", args->period,
                  "Length of the repeated segment (default for random sequences: 20, or "
                  "what fits the context)")
      ->check(integer_in(1, kMaxCount));
  cmd->add_option("--offset", args->offset, "With --input-ids: the position where the repeating part starts")
      ->check(integer_in(0, kMaxCount));
  cmd->add_option("--seed", args->seed, "Seed of the random sequences")
      ->check(integer_in(0, std::numeric_limits<int64_t>::max()));
  cmd->add_option("--batch", args->batch, "Number of random sequences")->check(integer_in(1, 4096));
  cmd->add_option("--repeats", args->repeats, "Copies of the segment in each random sequence")
      ->check(integer_in(2, 1024));
  add_output_options(cmd, args->output,
                     {.out = "Write the [layer, head] scores and the tokens to this .safetensors file",
                      .plot = "Draw each score as a layer x head heatmap"});
  cmd->callback([args] { emit(heads_report(*args), args->output); });
}

}  // namespace arrakis::cli
