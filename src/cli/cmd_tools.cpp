// arrakis tools: every registered tool with its declared methods and their arguments.
// arrakis tool KEY METHOD --model DIR [--prompt TEXT | --input-ids IDS] [--ARG VALUE ...]: calls a declared method
// by name; the method's own arguments come after, as --name value (or --name=value; - and _ are the same).
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "arrakis/error.hpp"
#include "arrakis/experiments/builtin_tools.hpp"
#include "arrakis/plots/plot_spec.hpp"
#include "cli/command_output.hpp"
#include "cli/commands.hpp"
#include "cli/model_options.hpp"
#include "cli/terminal_text.hpp"
#include "cli/token_input.hpp"

namespace arrakis::cli {
namespace {

CommandReport list_tools() {
  ToolRegistry registry;
  register_builtin_tools(registry);
  CommandReport report;
  nlohmann::json tools = nlohmann::json::array();
  std::vector<std::pair<std::string, ToolDescription>> described;
  for (const auto& name : registry.names()) {
    auto d = registry.describe(name);
    nlohmann::json methods = nlohmann::json::array();
    for (const auto& m : d.methods) methods.push_back(to_json(m));
    tools.push_back({{"key", name}, {"description", d.description}, {"methods", methods}});
    described.emplace_back(name, std::move(d));
  }
  report.json = {{"tools", tools}};
  report.print_text = [described] {
    for (const auto& [name, d] : described) {
      fmt::print("{}: {}\n", name, d.description);
      if (d.methods.empty()) fmt::print("  (C++ only: see docs/experiments.md)\n");
      for (const auto& m : d.methods) {
        fmt::print("  {} — {}\n", m.name, m.help);
        for (const auto& a : m.arguments)
          fmt::print("      --{:<14} {:<24} {}{}\n", a.name, a.type, a.help,
                     a.need == Need::Required    ? " (required)"
                     : a.default_value.is_null() ? ""
                                                 : fmt::format(" (default {})", a.default_value.dump()));
      }
    }
  };
  return report;
}

struct ToolArgs {
  std::string tool, method;
  ModelOptions model;
  std::optional<std::string> prompt, input_ids;
  OutputOptions output;
};

// The method's arguments, left over after the command's own options: --name value or --name=value.
std::map<std::string, std::string> method_arguments(const std::vector<std::string>& extras) {
  std::map<std::string, std::string> out;
  for (std::size_t i = 0; i < extras.size(); ++i) {
    const std::string& item = extras[i];
    if (!item.starts_with("--") || item.size() == 2)
      throw Error(fmt::format("tool: '{}' is not an --argument (give each method argument as --name value)",
                              terminal_safe(item)));
    std::string name = item.substr(2), value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    } else {
      if (i + 1 >= extras.size()) throw Error(fmt::format("tool: --{} needs a value", terminal_safe(name)));
      value = extras[++i];
    }
    for (char& c : name)
      if (c == '-') c = '_';
    if (out.count(name)) throw Error(fmt::format("tool: --{} is given twice", terminal_safe(name)));
    out[name] = value;
  }
  return out;
}

CommandReport call_tool(const ToolArgs& args, const std::vector<std::string>& extras) {
  ToolCallInput input;
  input.text = method_arguments(extras);
  auto model = load_model(args.model);
  ToolRegistry registry(model);
  register_builtin_tools(registry);
  find_method(registry.describe(args.tool), args.tool, args.method);  // name errors before any work
  if (args.prompt || args.input_ids) {
    auto tokens = resolve_input(model, args.prompt, args.input_ids);
    if (tokens.attention_mask.defined() && !tokens.attention_mask.all().item<bool>())
      throw Error("tool: padded batches are not supported by the tools; give sequences of one length");
    input.tensors["tokens"] = tokens.input_ids;
  }
  auto output = registry.call(args.tool, args.method, input);
  if (args.output.out && output.tensors.empty())
    throw Error(fmt::format("--out: {}'s result holds no tensors (its values are in --json)", args.method));
  CommandReport report;
  report.json = output.json;
  report.tensors = output.tensors;
  report.metadata = {{"tool", args.tool}, {"method", args.method}};
  report.print_text = [json = output.json] { fmt::print("{}\n", terminal_safe(json.dump(2))); };
  std::vector<std::string> token_labels;  // the first sequence's tokens, for the figures' axes
  if (auto t = input.tensors.find("tokens"); t != input.tensors.end()) {
    if (model.has_tokenizer()) {
      token_labels = model.to_str_tokens(t->second[0]);
    } else {
      for (int64_t p = 0; p < t->second.size(1); ++p)
        token_labels.push_back(std::to_string(t->second[0][p].item<int64_t>()));
    }
  }
  if (args.output.plot && output.figures) {
    // The result's own figures (ROME's grid, ...), with the prompt's tokens on their axes.
    report.figures = output.figures(token_labels);
    report.figure_title = fmt::format("arrakis tool {} {}", args.tool, args.method);
  } else if (args.output.plot) {
    // Every 1-D (a line) and 2-D (a heatmap) tensor of the result; the others are in --out.
    std::vector<std::string> drawable;
    for (const auto& [name, t] : output.tensors)
      if (t.defined() && t.dim() >= 1 && t.dim() <= 2 && !t.is_complex()) drawable.push_back(name);
    if (drawable.empty())
      throw Error(fmt::format("--plot: {}'s result holds no 1-D or 2-D tensor to draw", args.method));
    report.figures = plot_tensors(output.tensors, drawable, fmt::format("{} {}", args.tool, args.method));
    report.figure_title = fmt::format("arrakis tool {} {}", args.tool, args.method);
  }
  return report;
}

}  // namespace

void register_tools(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  auto* list = app.add_subcommand("tools", "List the registered tools, their methods and arguments");
  list->add_flag("--json", *json, "Print one JSON object");
  list->callback([json] { emit(list_tools(), {.json = *json}); });

  auto args = std::make_shared<ToolArgs>();
  auto* cmd = app.add_subcommand("tool", "Call a tool's method: arrakis tool KEY METHOD --model DIR [--ARG VALUE ...]");
  cmd->add_option("key", args->tool, "The tool's key (see `arrakis tools`)")->required();
  cmd->add_option("method", args->method, "The method")->required();
  add_model_options(cmd, args->model);
  add_token_input_options(cmd, args->prompt, args->input_ids);
  add_output_options(cmd, args->output,
                     {.out = "Write the result's tensors to this .safetensors file",
                      .plot = "Draw the result's 1-D tensors as lines and 2-D tensors as heatmaps"});
  cmd->allow_extras();
  cmd->callback([args, cmd] { emit(call_tool(*args, cmd->remaining()), args->output); });
}

}  // namespace arrakis::cli
