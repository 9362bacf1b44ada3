// arrakis heads: previous-token, duplicate-token and induction scores (and attention entropy) of every head, on
// token ids that repeat with a known period or on seeded repeated random sequences.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "arrakis/analysis/head_detectors.hpp"
#include "arrakis/error.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/loading.hpp"
#include "arrakis/plots/heatmap.hpp"
#include "cli/commands.hpp"
#include "cli/model_options.hpp"
#include "cli/tensor_json.hpp"
#include "cli/token_input.hpp"

namespace arrakis::cli {
namespace {

struct HeadsArgs {
  ModelOptions model;
  std::optional<std::string> input_ids, out, plot;
  std::optional<int64_t> period;
  int64_t offset = 0, batch = 8, repeats = 2;
  uint64_t seed = 0;
  bool json = false;
};

void run(const HeadsArgs& args) {
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
    tokens = repeated_random_sequences(args.batch, period, args.repeats, 0, c.d_vocab, args.seed, bos);
    offset = bos ? 1 : 0;
  }
  auto scores = head_scores(model, tokens, period, offset);

  if (args.out) {
    save_safetensors(*args.out, {{"previous_token", scores.previous_token},
                                 {"duplicate_token", scores.duplicate_token},
                                 {"induction", scores.induction},
                                 {"entropy", scores.entropy},
                                 {"input_ids", tokens}},
                     {{"period", std::to_string(period)}, {"offset", std::to_string(offset)}});
  }
  if (args.plot) {
    std::vector<Heatmap> maps;
    auto add = [&](const char* title, const torch::Tensor& values) {
      Heatmap h;
      h.title = title;
      h.values = values;
      h.diverging = false;
      maps.push_back(std::move(h));
    };
    add("previous-token score", scores.previous_token);
    add("duplicate-token score", scores.duplicate_token);
    add("induction score", scores.induction);
    add("attention entropy (nats)", scores.entropy);
    write_heatmaps_html(*args.plot, fmt::format("{}: attention heads (period {})", c.model_name, period), maps);
  }
  if (args.json) {
    nlohmann::json out = {{"previous_token", tensor_json(scores.previous_token)},
                          {"duplicate_token", tensor_json(scores.duplicate_token)},
                          {"induction", tensor_json(scores.induction)},
                          {"entropy", tensor_json(scores.entropy)},
                          {"period", period},
                          {"offset", offset},
                          {"batch", tokens.size(0)},
                          {"positions", tokens.size(1)}};
    if (!args.input_ids) out["seed"] = args.seed;
    fmt::print("{}\n", out.dump());
    return;
  }
  fmt::print("{}: {} sequence{} of {} tokens, period {}{}\n", c.model_name, tokens.size(0),
             tokens.size(0) == 1 ? "" : "s", tokens.size(1), period,
             args.input_ids ? "" : fmt::format(" (seeded repeated random tokens, seed {})", args.seed));
  fmt::print("{:>5} {:>4} {:>10} {:>10} {:>10} {:>8}\n", "layer", "head", "prev-tok", "duplicate", "induction",
             "entropy");
  for (int64_t l = 0; l < c.n_layers; ++l)
    for (int64_t h = 0; h < c.n_heads; ++h)
      fmt::print("{:>5} {:>4} {:>10.4f} {:>10.4f} {:>10.4f} {:>8.3f}\n", l, h,
                 scores.previous_token[l][h].item<double>(), scores.duplicate_token[l][h].item<double>(),
                 scores.induction[l][h].item<double>(), scores.entropy[l][h].item<double>());
  auto best = [&](const torch::Tensor& s, const char* what) {
    auto i = s.argmax().item<int64_t>();
    fmt::print("strongest {} head: L{}H{} ({:.3f})\n", what, i / c.n_heads, i % c.n_heads,
               s.flatten()[i].item<double>());
  };
  best(scores.previous_token, "previous-token");
  best(scores.duplicate_token, "duplicate-token");
  best(scores.induction, "induction");
  if (args.out) fmt::print("wrote {}\n", *args.out);
  if (args.plot) fmt::print("wrote {}\n", *args.plot);
}

}  // namespace

void register_heads(CLI::App& app) {
  auto args = std::make_shared<HeadsArgs>();
  auto* cmd = app.add_subcommand("heads", "Previous-token, duplicate-token and induction scores of every head");
  add_model_options(cmd, args->model);
  cmd->add_option("--input-ids", args->input_ids,
                  "Token ids that repeat with period --period: comma-separated (one sequence) or a .safetensors "
                  "file with int64 input_ids [batch, pos]. Default: seeded repeated random sequences");
  cmd->add_option("--period", args->period, "Length of the repeated segment (default for random sequences: 20, or "
                                            "what fits the context)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--offset", args->offset, "With --input-ids: the position where the repeating part starts")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", args->seed, "Seed of the random sequences");
  cmd->add_option("--batch", args->batch, "Number of random sequences")->check(CLI::PositiveNumber);
  cmd->add_option("--repeats", args->repeats, "Copies of the segment in each random sequence")
      ->check(CLI::Range(2, 1 << 20));
  cmd->add_flag("--json", args->json, "Print one JSON object with [layer, head] arrays");
  cmd->add_option("--out", args->out, "Write the [layer, head] scores and the tokens to this .safetensors file");
  cmd->add_option("--plot", args->plot, "Write heatmaps of the scores to this self-contained .html file");
  cmd->callback([args] { run(*args); });
}

}  // namespace arrakis::cli
