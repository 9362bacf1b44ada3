// arrakis plot: the seeds' PlotSpec from the shell — one or more plot types drawn from one forward over a prompt.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "arrakis/error.hpp"
#include "arrakis/plots/plot_spec.hpp"
#include "cli/command_output.hpp"
#include "cli/commands.hpp"
#include "cli/model_options.hpp"
#include "cli/token_input.hpp"
#include "cli/validators.hpp"

namespace arrakis::cli {
namespace {

struct PlotArgs {
  ModelOptions model;
  std::optional<std::string> prompt, input_ids;
  std::vector<std::string> types, keys;
  std::optional<int> layer, head;
  int64_t top_k = 5;
  OutputOptions output;
};

CommandReport plot(const PlotArgs& args) {
  if (!args.output.plot) throw Error("plot: give --plot FILE (.html, .svg, .png or .json)");
  auto model = load_model(args.model);
  auto input = resolve_input(model, args.prompt, args.input_ids);
  std::vector<PlotSpec> specs;
  for (const auto& type : args.types)
    specs.push_back(
        {.plot_type = type, .data_keys = args.keys, .layer = args.layer, .head = args.head, .top_k = args.top_k});
  auto figures = plot_results(model, specs, input.input_ids);
  CommandReport report;
  auto titles = nlohmann::json::array();
  for (const auto& f : figures) titles.push_back({{"type", f.type()}, {"title", f.title}});
  report.json = {{"figures", titles}};
  report.print_text = [figures] {
    for (const auto& f : figures) fmt::print("{:<16} {}\n", f.type(), f.title);
  };
  report.figures = std::move(figures);
  report.figure_title = fmt::format("{}: {}", model.config().model_name, fmt::join(args.types, ", "));
  return report;
}

}  // namespace

void register_plot(CLI::App& app) {
  auto args = std::make_shared<PlotArgs>();
  auto* cmd = app.add_subcommand("plot", "Draw plot types (PlotSpec) from one forward over a prompt (docs/plots.md)");
  add_model_options(cmd, args->model);
  add_token_input_options(cmd, args->prompt, args->input_ids);
  cmd->add_option("--type", args->types, fmt::format("Plot types, one or more: {}", fmt::join(plot_types(), ", ")))
      ->required();
  cmd->add_option("--key", args->keys,
                  "Data keys: hook names, short forms with --layer, or module paths (h.1.attn, "
                  "model.layers.1.self_attn); `arrakis hooks` lists them");
  cmd->add_option("--layer", args->layer, "The layer of short-form keys and of one-layer plot types");
  cmd->add_option("--head", args->head, "attention, qk_dot_product: one head (default: every head)");
  cmd->add_option("--top-k", args->top_k, "induction_heads: heads shown; neuron_activation_trajectories: units shown")
      ->check(integer_in(1, kMaxCount));
  add_output_options(cmd, args->output, {.plot = "Where to draw the figures (required)"});
  cmd->callback([args] { emit(plot(*args), args->output); });
}

}  // namespace arrakis::cli
