// arrakis hooks: the hook-point catalogue for a model (every point, its shape for a batch and length, what it holds,
// whether it is opt-in), or the catalogue itself as docs/hooks.md's table (--markdown).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "arrakis/error.hpp"
#include "arrakis/hooks/hook_catalogue.hpp"
#include "arrakis/model/module_paths.hpp"
#include "cli/command_output.hpp"
#include "cli/commands.hpp"
#include "cli/model_options.hpp"

namespace arrakis::cli {
namespace {

struct HooksArgs {
  ModelOptions model;
  int64_t batch = 1, seq = 8;
  bool markdown = false;
  OutputOptions output;
};

CommandReport hooks(const HooksArgs& args) {
  CommandReport report;
  if (args.markdown) {
    if (args.output.json) throw Error("hooks: --markdown and --json are two different outputs; give one");
    report.print_text = [] { fmt::print("{}", hook_catalogue_markdown()); };
    return report;
  }
  if (args.model.model.empty()) throw Error("hooks: give --model DIR (or --markdown for the catalogue alone)");
  if (args.batch < 1 || args.seq < 1) throw Error("hooks: --batch and --seq must be at least 1");
  auto model = load_model(args.model);
  const auto& c = model.config();
  nlohmann::json points = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows;
  for (const auto& point : model.hooks().points()) {
    auto parsed = parse_hook_name(point.name);
    if (!parsed) continue;
    const auto& spec = hook_spec(parsed->first);
    const auto shape = hook_shape(c, spec.kind, args.batch, args.seq);
    const bool enabled = model.hooks().is_enabled(point.id);
    points.push_back({{"name", point.name},
                      {"layer", point.layer},
                      {"short_name", std::string(spec.short_name)},
                      {"shape", shape},
                      {"enabled", enabled},
                      {"how_to_enable", enabled ? "" : how_to_enable(spec.opt_in)},
                      {"meaning", std::string(spec.meaning)}});
    rows.push_back(
        {point.name, fmt::format("[{}]", fmt::join(shape, ", ")), enabled ? "" : "opt-in", std::string(spec.meaning)});
  }
  const std::string name = c.model_name.empty() ? c.family : c.model_name;
  auto aliases = module_aliases(c);
  nlohmann::json alias_json = nlohmann::json::array();
  for (const auto& a : aliases) alias_json.push_back(a.to_json());
  report.json = {{"model", name},
                 {"batch", args.batch},
                 {"positions", args.seq},
                 {"points", points},
                 {"module_aliases", alias_json}};
  report.print_text = [name, rows, aliases, family = c.family, batch = args.batch, seq = args.seq] {
    fmt::print("{}: {} hook points (shapes for batch {}, {} positions)\n", name, rows.size(), batch, seq);
    for (const auto& r : rows) fmt::print("  {:<40} {:<22} {:<6} {}\n", r[0], r[1], r[2], r[3]);
    fmt::print(
        "\nModule paths that name hook points (the {} family's Hugging Face modules where it has them, and "
        "TransformerLens' modules): the module's output, or with .hook_result_pre its input\n",
        family);
    for (const auto& a : aliases)
      fmt::print("  {:<40} {}{}\n", a.path, fmt::join(a.outputs, ", "),
                 a.input.empty() ? std::string() : fmt::format("  (input: {})", a.input));
  };
  return report;
}

}  // namespace

void register_hooks(CLI::App& app) {
  auto args = std::make_shared<HooksArgs>();
  auto* cmd = app.add_subcommand(
      "hooks", "List a model's hook points (name, shape, meaning, opt-in) and the module paths that name them");
  cmd->add_option("--model", args->model.model, "Model folder (Hugging Face, TransformerLens or llama2.c)")
      ->group("Model");
  add_dtype_device_options(cmd, args->model);
  cmd->add_option("--batch", args->batch, "Batch size for the shapes (default 1)");
  cmd->add_option("--seq", args->seq, "Positions for the shapes (default 8)");
  cmd->add_flag("--markdown", args->markdown, "Print the catalogue as docs/hooks.md's table (no model needed)");
  add_output_options(cmd, args->output, {});
  cmd->callback([args] { emit(hooks(*args), args->output); });
}

}  // namespace arrakis::cli
