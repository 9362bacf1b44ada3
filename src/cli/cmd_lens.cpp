// arrakis lens: the logit lens — the residual stream after every layer, at every position, decoded through the
// final norm and the unembedding: top tokens per layer and position, and the probability and rank of a tracked token.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "arrakis/analysis/logit_lens.hpp"
#include "arrakis/analysis/metrics.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/loading.hpp"
#include "cli/command_output.hpp"
#include "cli/commands.hpp"
#include "cli/model_options.hpp"
#include "cli/tensor_json.hpp"
#include "cli/token_input.hpp"
#include "cli/validators.hpp"

namespace arrakis::cli {
namespace {

struct LensArgs {
  ModelOptions model;
  std::optional<std::string> prompt, input_ids, target;
  int top_k = 5;
  bool incl_mid = false, final_cached_scale = false;
  OutputOptions output;
};

// The model outlives the report: its text printer decodes token ids with the model's tokenizer.
CommandReport lens_report(HookedTransformer& model, const LensArgs& args) {
  auto input = resolve_input(model, args.prompt, args.input_ids);
  const auto& ids = input.input_ids;
  LogitLensOptions options;
  options.top_k = args.top_k;
  options.incl_mid = args.incl_mid;
  options.final_cached_scale = args.final_cached_scale;
  if (args.target)
    options.targets = torch::full(ids.sizes(), parse_token(*args.target, model, "--target"), torch::kInt64);
  options.attention_mask = input.attention_mask;
  auto lens = run_logit_lens(model, ids, options);

  auto text = [&](int64_t id) { return model.has_tokenizer() ? model.to_string(torch::tensor({id})) : std::string(); };
  CommandReport report;
  report.tensors = {
      {"input_ids", ids},        {"top_tokens", lens.top_tokens},     {"top_probs", lens.top_probs},
      {"targets", lens.targets}, {"target_probs", lens.target_probs}, {"target_ranks", lens.target_ranks}};
  report.metadata = {{"labels", fmt::format("{}", fmt::join(lens.labels, ","))}};
  report.json = {{"labels", lens.labels},
                 {"input_ids", tensor_json(ids)},
                 {"top_tokens", tensor_json(lens.top_tokens)},
                 {"top_probs", tensor_json(lens.top_probs)},
                 {"targets", tensor_json(lens.targets)},
                 {"target_probs", tensor_json(lens.target_probs)},
                 {"target_ranks", tensor_json(lens.target_ranks)}};
  if (model.has_tokenizer() && args.output.json) {
    // The texts of the top tokens, [layer][batch][pos][k], beside their ids.
    auto strings = nlohmann::json::array();
    auto flat = lens.top_tokens.contiguous();
    for (int64_t n = 0; n < flat.size(0); ++n) {
      auto per_batch = nlohmann::json::array();
      for (int64_t b = 0; b < flat.size(1); ++b) {
        auto per_pos = nlohmann::json::array();
        for (int64_t p = 0; p < flat.size(2); ++p) {
          auto top = nlohmann::json::array();
          for (int64_t k = 0; k < flat.size(3); ++k) top.push_back(text(flat[n][b][p][k].item<int64_t>()));
          per_pos.push_back(top);
        }
        per_batch.push_back(per_pos);
      }
      strings.push_back(per_batch);
    }
    report.json["top_strings"] = strings;
  }
  // The logit-lens table of the first sequence (nostalgebraist, "interpreting GPT: the logit lens", 2020): each
  // layer's top token at each position, coloured by the probability the layer gives the tracked token.
  {
    const int64_t layers = lens.top_tokens.size(0), pos = ids.size(1);
    std::vector<std::vector<std::string>> cells(static_cast<std::size_t>(layers));
    for (int64_t n = 0; n < layers; ++n)
      for (int64_t p = 0; p < pos; ++p) {
        const auto id = lens.top_tokens[n][0][p][0].item<int64_t>();
        cells[static_cast<std::size_t>(n)].push_back(model.has_tokenizer() ? text(id) : std::to_string(id));
      }
    std::vector<std::string> positions;
    for (int64_t p = 0; p < pos; ++p) {
      const auto id = ids[0][p].item<int64_t>();
      positions.push_back(model.has_tokenizer() ? text(id) : std::to_string(id));
    }
    int64_t last = ids.size(1) - 1;  // the first sequence's last real token (padding may follow it)
    if (input.attention_mask.defined()) last = input.attention_mask[0].nonzero().max().item<int64_t>();
    std::vector<double> probability;
    for (int64_t n = 0; n < layers; ++n) probability.push_back(lens.target_probs[n][0][last].item<double>());
    report.figures = {
        {.title = "Logit lens: each layer's top token",
         .body = Heatmap{.values = lens.target_probs.select(1, 0),
                         .rows = {.title = "residual stream", .labels = lens.labels},
                         .cols = {.title = "input token", .labels = positions},
                         .colour = ColourScale::sequential,
                         .value_title = "p(tracked token)",
                         .cell_text = cells},
         .caption = "Each cell: the top token when that layer's residual stream is decoded (final norm, then "
                    "unembedding) at that position; colour: the probability it gives the tracked token (--target, "
                    "or the model's own final prediction). First sequence."},
        {.title = "Probability of the tracked token by layer, last position",
         .body = LinePlot{.x = {.title = "residual stream", .labels = lens.labels},
                          .y = {.title = "probability"},
                          .series = {{.name = "first sequence", .y = probability}}}}};
    report.figure_title = "Logit lens";
  }
  report.print_text = [&model, input, lens, text] {
    const auto& ids = input.input_ids;
    const int64_t batch = ids.size(0), pos = ids.size(1), layers = lens.top_tokens.size(0), k = lens.top_tokens.size(3);
    auto token = [&](int64_t id) { return model.has_tokenizer() ? fmt::format("{:?}", text(id)) : std::to_string(id); };
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t p = 0; p < pos; ++p) {
        if (input.attention_mask.defined() && input.attention_mask[b][p].item<int64_t>() == 0) continue;
        auto target = lens.targets[b][p].item<int64_t>();
        fmt::print("sequence {} position {} (input {}), tracking {}:\n", b, p, token(ids[b][p].item<int64_t>()),
                   token(target));
        for (int64_t n = 0; n < layers; ++n) {
          std::string row =
              fmt::format("  {:>10}  rank {:>6}  p={:.3f} |", lens.labels[n],
                          lens.target_ranks[n][b][p].item<int64_t>(), lens.target_probs[n][b][p].item<double>());
          for (int64_t i = 0; i < k; ++i)
            row += fmt::format(" {} {:.3f}", token(lens.top_tokens[n][b][p][i].item<int64_t>()),
                               lens.top_probs[n][b][p][i].item<double>());
          fmt::print("{}\n", row);
        }
      }
    }
  };
  return report;
}

}  // namespace

void register_lens(CLI::App& app) {
  auto args = std::make_shared<LensArgs>();
  auto* cmd = app.add_subcommand("lens", "Logit lens: every layer's residual stream decoded at every position");
  add_model_options(cmd, args->model);
  add_token_input_options(cmd, args->prompt, args->input_ids);
  cmd->add_option("--top-k", args->top_k, "Top tokens per layer and position")->check(integer_in(1, kMaxCount));
  cmd->add_option("--target", args->target,
                  "Token (id or single-token text) whose probability and rank are tracked (default: the model's "
                  "final prediction at each position)");
  cmd->add_flag("--incl-mid", args->incl_mid, "Also decode each block's resid_mid");
  cmd->add_flag("--tl-scale", args->final_cached_scale,
                "Normalise every layer by the final layer's cached scale, as TransformerLens' "
                "accumulated_resid(apply_ln=True) does (default: each layer's own)");
  add_output_options(cmd, args->output,
                     {.out = "Write the lens tensors to this .safetensors file",
                      .plot = "Draw the logit-lens table (top token per layer and position) and the tracked token's "
                              "probability by layer"});
  cmd->callback([args] {
    auto model = load_model(args->model);
    emit(lens_report(model, *args), args->output);
  });
}

}  // namespace arrakis::cli
