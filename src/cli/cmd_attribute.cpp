// arrakis attribute: direct logit attribution — what each layer and each head writes directly into a metric's
// logit direction at the last position (logit-diff:A,B exactly; logprob:T through the logit of T).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "arrakis/analysis/direct_logit_attribution.hpp"
#include "arrakis/analysis/metrics.hpp"
#include "arrakis/error.hpp"
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

struct AttributeArgs {
  ModelOptions model;
  std::string metric;
  std::optional<std::string> prompt, input_ids;
  int top_neurons = 0;
  OutputOptions output;
};

CommandReport attribute(const AttributeArgs& args) {
  auto model = load_model(args.model);
  const auto& c = model.config();
  auto input = resolve_input(model, args.prompt, args.input_ids);
  const auto& ids = input.input_ids;
  // The last real token of each prompt (padding may sit on either side).
  ReadPosition position =
      input.attention_mask.defined() ? ReadPosition::last_real(input.attention_mask) : ReadPosition(-1);
  auto metric = parse_metric(args.metric, model, {ids, input.attention_mask, {}, position});
  if (metric.kind != MetricKind::LogitDiff && metric.kind != MetricKind::Logprob)
    throw Error(
        fmt::format("--metric {}: direct logit attribution needs a metric read along logit directions "
                    "(logit-diff:A,B, or logprob:T attributed through the logit of T)",
                    args.metric));
  auto answer = torch::tensor(metric.answer);
  auto wrong = metric.kind == MetricKind::LogitDiff ? torch::tensor(metric.wrong) : torch::Tensor();
  const bool neurons = args.top_neurons > 0 && c.has_mlp();
  auto dla = run_direct_logit_attribution(model, ids,
                                          {.answer = answer,
                                           .wrong = wrong,
                                           .position = position,
                                           .neurons = neurons,
                                           .attention_mask = input.attention_mask});

  // Means over the prompts (per-prompt values go to --out).
  auto components = dla.components.mean(1), heads = dla.heads.mean(-1);
  const double total = dla.total.mean().item<double>(), bias = dla.bias.mean().item<double>();
  const char* quantity = metric.kind == MetricKind::LogitDiff ? "logit difference" : "logit";

  torch::Tensor top_values, top_index;
  if (neurons) {
    auto flat = dla.neurons.mean(-1).flatten();
    std::tie(top_values, top_index) = flat.abs().topk(std::min<int64_t>(args.top_neurons, flat.numel()));
    top_values = flat.index_select(0, top_index);
  }
  CommandReport report;
  report.tensors = {{"components", dla.components},
                    {"heads", dla.heads},
                    {"bias", dla.bias},
                    {"total", dla.total},
                    {"input_ids", ids}};
  if (neurons) report.tensors.emplace_back("neurons", dla.neurons);
  report.metadata = {{"metric", args.metric},
                     {"component_labels", fmt::format("{}", fmt::join(dla.component_labels, ","))}};

  const std::string units = fmt::format("{} ({})", quantity, args.metric);
  auto component_means = components.to(torch::kFloat64).contiguous();
  Figure by_component{
      .title = fmt::format("Direct attribution to the {} by component", quantity),
      .body = BarChart{.x = {.title = "component", .labels = dla.component_labels},
                       .y = {.title = units},
                       .series = {{.name = "mean over prompts",
                                   .y = std::vector<double>(component_means.data_ptr<double>(),
                                                            component_means.data_ptr<double>() + components.numel())}}},
      .caption = fmt::format("What each component writes directly along the {} direction at the last position "
                             "(after the final norm's scale), mean over {} prompt(s). The bars and the bias sum to "
                             "the {} ({:.4g}).",
                             quantity, ids.size(0), quantity, total)};
  Figure by_head{.title = fmt::format("Direct attribution to the {} by head", quantity),
                 .body = Heatmap{.values = heads,
                                 .rows = {.title = "layer"},
                                 .cols = {.title = "head"},
                                 .colour = ColourScale::diverging,
                                 .value_title = quantity},
                 .caption = "Each head's direct contribution (red raises the metric, blue lowers it)."};
  // The residual stream accumulated component by component, read along the same direction: TransformerLens'
  // accumulated_resid(apply_ln=True) + logit_attrs, one point per component instead of per layer; the bias last.
  std::vector<double> accumulated;
  std::vector<std::string> prefixes;
  double running = 0;
  for (std::size_t i = 0; i < dla.component_labels.size(); ++i) {
    running += component_means.data_ptr<double>()[i];
    accumulated.push_back(running);
    prefixes.push_back("+ " + dla.component_labels[i]);
  }
  accumulated.push_back(running + bias);
  prefixes.push_back("+ bias");
  Figure accumulated_line{
      .title = fmt::format("The {} of the accumulated residual stream", quantity),
      .body = LinePlot{.x = {.title = "residual stream after", .labels = prefixes},
                       .y = {.title = units},
                       .series = {{.name = "mean over prompts", .y = accumulated}}},
      .caption = fmt::format("The running sum of the components' direct attributions: where in the forward the {} "
                             "appears. It ends at the {} ({:.4g}).",
                             quantity, quantity, total)};
  report.figure_title = fmt::format("{}: direct logit attribution", c.model_name);
  report.figures = {by_component, accumulated_line, by_head};

  report.json = {{"metric", args.metric},
                 {"kind", std::string(to_string(metric.kind))},
                 {"total", total},
                 {"per_prompt_total", tensor_json(dla.total)},
                 {"bias", bias},
                 {"component_labels", dla.component_labels},
                 {"components", tensor_json(components)},
                 {"heads", tensor_json(heads)}};
  if (neurons) {
    auto list = nlohmann::json::array();
    for (int64_t i = 0; i < top_index.size(0); ++i) {
      auto flat = top_index[i].item<int64_t>();
      list.push_back(
          {{"layer", flat / c.d_mlp}, {"neuron", flat % c.d_mlp}, {"attribution", top_values[i].item<double>()}});
    }
    report.json["top_neurons"] = list;
  }

  report.print_text = [=, labels = dla.component_labels, batch = ids.size(0), name = c.model_name, layers = c.n_layers,
                       n_heads = c.n_heads, d_mlp = c.d_mlp] {
    fmt::print("{}: {} ({}) at the last position, mean over {} prompt{}: {:.4f}\n", name, quantity, args.metric, batch,
               batch == 1 ? "" : "s", total);
    fmt::print("direct attribution by component (sum {:.4f} + final biases {:.4f}):\n", components.sum().item<double>(),
               bias);
    for (std::size_t i = 0; i < labels.size(); ++i)
      fmt::print("  {:>14} {:>10.4f}\n", labels[i], components[static_cast<int64_t>(i)].item<double>());
    fmt::print("by head [layer, head]:\n      ");
    for (int64_t h = 0; h < n_heads; ++h) fmt::print(" {:>8}", fmt::format("H{}", h));
    fmt::print("\n");
    for (int64_t l = 0; l < layers; ++l) {
      fmt::print("  L{:<3}", l);
      for (int64_t h = 0; h < n_heads; ++h) fmt::print(" {:>8.4f}", heads[l][h].item<double>());
      fmt::print("\n");
    }
    if (neurons) {
      fmt::print("largest neurons:\n");
      for (int64_t i = 0; i < top_index.size(0); ++i) {
        auto flat = top_index[i].item<int64_t>();
        fmt::print("  L{}N{} {:>10.4f}\n", flat / d_mlp, flat % d_mlp, top_values[i].item<double>());
      }
    }
  };
  return report;
}

}  // namespace

void register_attribute(CLI::App& app) {
  auto args = std::make_shared<AttributeArgs>();
  auto* cmd = app.add_subcommand("attribute", "Direct logit attribution per layer and per head");
  add_model_options(cmd, args->model);
  add_token_input_options(cmd, args->prompt, args->input_ids);
  cmd->add_option("--metric", args->metric,
                  "logit-diff:A,B (logit of A minus logit of B) or logprob:T (attributed through T's logit); A, B, T "
                  "are token ids or single-token texts")
      ->required();
  cmd->add_option("--neurons", args->top_neurons, "Also list the N neurons with the largest attribution")
      ->check(integer_in(0, kMaxCount));
  add_output_options(cmd, args->output,
                     {.out = "Write the per-prompt attributions to this .safetensors file",
                      .plot = "Draw the attribution by component (bars) and by head (heatmap)"});
  cmd->callback([args] { emit(attribute(*args), args->output); });
}

}  // namespace arrakis::cli
