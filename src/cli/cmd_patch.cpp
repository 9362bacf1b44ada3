// arrakis patch: an activation-patching (or attribution-patching) sweep between a clean and a corrupted input; prints
// the [layer, position] / [layer, head] / [layer, position, head] table or one JSON object, optionally saves it.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "arrakis/analysis/activation_patching.hpp"
#include "arrakis/analysis/attribution_patching.hpp"
#include "arrakis/error.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/loading.hpp"
#include "arrakis/plots/figure.hpp"
#include "cli/command_output.hpp"
#include "cli/commands.hpp"
#include "cli/model_options.hpp"
#include "cli/token_input.hpp"

namespace arrakis::cli {
namespace {

struct PatchArgs {
  ModelOptions model;
  std::string component, metric;
  std::optional<std::string> clean, corrupted, clean_prompt, corrupted_prompt;
  bool by_position = false, noising = false, attribution = false, naive = false;
  OutputOptions output;
};

TokenInput read_run(const HookedTransformer& model, const std::optional<std::string>& ids,
                    const std::optional<std::string>& prompt, const char* which) {
  if (ids.has_value() == prompt.has_value())
    throw Error(fmt::format("give exactly one of --{0} and --{0}-prompt", which));
  return resolve_input(model, prompt, ids);
}

// Prints "patch: 40/192 cells" at most about once a second (and at the end), so long sweeps show they move.
std::function<void(int64_t, int64_t)> progress_line() {
  auto last = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
  return [last](int64_t done, int64_t total) {
    auto now = std::chrono::steady_clock::now();
    if (done < total && now - *last < std::chrono::seconds(1)) return;
    *last = now;
    std::cerr << fmt::format("patch: {}/{} cells\n", done, total) << std::flush;
  };
}

nlohmann::json nested(const torch::Tensor& values) {
  if (values.dim() == 1) {
    auto contiguous = values.to(torch::kFloat64).contiguous();
    std::vector<double> row(contiguous.data_ptr<double>(), contiguous.data_ptr<double>() + contiguous.numel());
    return row;
  }
  auto rows = nlohmann::json::array();
  for (int64_t i = 0; i < values.size(0); ++i) rows.push_back(nested(values[i]));
  return rows;
}

void print_table(const PatchingResult& result, const std::vector<std::vector<std::string>>& labels) {
  // Rows: every index but the last dim's; columns: the last dim.
  const auto& columns = labels.back();
  std::size_t row_width = 4;
  for (std::size_t d = 0; d + 1 < labels.size(); ++d) {
    std::size_t widest = 0;
    for (const auto& l : labels[d]) widest = std::max(widest, l.size());
    row_width += widest + 1;
  }
  std::string header(row_width, ' ');
  for (const auto& c : columns) header += fmt::format(" {:>9.9}", c);
  fmt::print("{}\n", header);
  auto rows = result.values.reshape({-1, result.values.size(-1)});
  for (int64_t r = 0; r < rows.size(0); ++r) {
    std::string name;
    for (int64_t d = static_cast<int64_t>(labels.size()) - 2, rest = r; d >= 0; --d) {
      name = labels[d][rest % result.values.size(d)] + (name.empty() ? "" : " ") + name;
      rest /= result.values.size(d);
    }
    std::string line = fmt::format("{:<{}}", name, row_width);
    for (int64_t c = 0; c < rows.size(1); ++c) line += fmt::format(" {:>9.4f}", rows[r][c].item<double>());
    fmt::print("{}\n", line);
  }
}

// One heatmap of [layer, position | head], or one per layer of [layer, position, head].
std::vector<Figure> figures(const PatchingResult& result, const std::vector<std::vector<std::string>>& labels,
                            const std::string& metric, bool attribution) {
  const std::string value =
      attribution ? fmt::format("estimated change in {}", metric) : fmt::format("{} after the patch", metric);
  const std::string caption =
      fmt::format("Unpatched: clean {:.4g}, corrupted {:.4g}.", result.clean_metric, result.corrupted_metric);
  std::vector<Figure> maps;
  if (result.values.dim() == 2) {
    maps.push_back({.title = fmt::format("Patching {} by {} and {}", metric, result.dims[0], result.dims[1]),
                    .body = Heatmap{.values = result.values,
                                    .rows = {.title = result.dims[0], .labels = labels[0]},
                                    .cols = {.title = result.dims[1], .labels = labels[1]},
                                    .value_title = value},
                    .caption = caption});
  } else {
    for (int64_t l = 0; l < result.values.size(0); ++l)
      maps.push_back({.title = fmt::format("Patching {}: {}", metric, labels[0][static_cast<std::size_t>(l)]),
                      .body = Heatmap{.values = result.values[l],
                                      .rows = {.title = result.dims[1], .labels = labels[1]},
                                      .cols = {.title = result.dims[2], .labels = labels[2]},
                                      .value_title = value},
                      .caption = caption});
  }
  return maps;
}

CommandReport patch(const PatchArgs& args) {
  auto model = load_model(args.model);
  auto clean = read_run(model, args.clean, args.clean_prompt, "clean");
  auto corrupted = read_run(model, args.corrupted, args.corrupted_prompt, "corrupted");
  if (clean.input_ids.sizes() != corrupted.input_ids.sizes())
    throw Error(
        fmt::format("--clean gives {} tokens and --corrupted {}: patching pairs position p of one run with "
                    "position p of the other, so they must have the same shape",
                    clean.input_ids.sizes().vec(), corrupted.input_ids.sizes().vec()));
  PatchingRuns runs{clean.input_ids, corrupted.input_ids, clean.attention_mask, corrupted.attention_mask};
  const auto component = parse_patch_component(args.component);
  const auto& target = args.noising ? clean : corrupted;  // the run being patched

  MetricContext context;
  context.tokens = target.input_ids;
  context.attention_mask = target.attention_mask;
  if (args.metric.starts_with("kl")) {  // KL against the run the patches come from
    torch::NoGradGuard no_grad;
    const auto& source = args.noising ? corrupted : clean;
    ForwardOptions forward;
    forward.attention_mask = source.attention_mask;
    context.reference_logits = model(source.input_ids, forward);
  }
  auto metric = parse_metric(args.metric, model, context);

  PatchingResult result;
  if (args.attribution) {
    AttributionPatchingOptions options;
    options.component = component;
    options.by_position = args.by_position;
    options.noising = args.noising;
    result = attribution_patching(model, runs, metric.metric, options);
  } else {
    ActivationPatchingOptions options;
    options.component = component;
    options.by_position = args.by_position;
    options.noising = args.noising;
    options.method = args.naive ? PatchingMethod::Naive : PatchingMethod::Fast;
    options.metric_reads_last_position = metric.reads_last_position();
    options.metric_reads_tokens = metric.reads_tokens();
    options.progress = progress_line();
    result = activation_patching(model, runs, metric.metric, options);
  }

  std::vector<std::string> str_tokens;
  if (model.has_tokenizer()) str_tokens = model.to_str_tokens(target.input_ids[0]);
  auto labels = patching_labels(model, result, component, str_tokens);
  const char* quantity = args.attribution ? "estimated metric change (attribution patching)" : "patched metric";

  CommandReport report;
  report.tensors = {{"result", result.values.to(torch::kFloat32)},
                    {"clean_metric", torch::tensor({result.clean_metric}, torch::kFloat32)},
                    {"corrupted_metric", torch::tensor({result.corrupted_metric}, torch::kFloat32)}};
  report.metadata = {{"component", args.component},
                     {"metric", args.metric},
                     {"dims", fmt::format("{}", fmt::join(result.dims, ","))},
                     {"quantity", quantity}};
  report.figure_title = fmt::format("{} patching of {}, {} ({}): {}", args.attribution ? "attribution" : "activation",
                                    args.component, args.metric, args.noising ? "noising" : "denoising", quantity);
  report.figures = figures(result, labels, args.metric, args.attribution);
  nlohmann::json labels_json;
  for (std::size_t d = 0; d < result.dims.size(); ++d) labels_json[result.dims[d]] = labels[d];
  report.json = {{"result", nested(result.values)},
                 {"clean_metric", result.clean_metric},
                 {"corrupted_metric", result.corrupted_metric},
                 {"dims", result.dims},
                 {"labels", labels_json},
                 {"component", args.component},
                 {"metric", args.metric},
                 {"direction", args.noising ? "noising" : "denoising"},
                 {"quantity", quantity},
                 {"cells", result.cells},
                 {"cells_unchanged", result.cells_unchanged},
                 {"necessary_gflop", result.necessary_gflop}};
  report.print_text = [args, result, labels, quantity] {
    fmt::print("{} patching of {} ({}), metric {}: clean {:.4f}, corrupted {:.4f}\n",
               args.attribution ? "attribution" : "activation", args.component,
               args.noising ? "corrupted into clean" : "clean into corrupted", args.metric, result.clean_metric,
               result.corrupted_metric);
    fmt::print("values: {} [{}]\n", quantity, fmt::join(result.dims, ", "));
    print_table(result, labels);
  };
  return report;
}

}  // namespace

void register_patch(CLI::App& app) {
  auto args = std::make_shared<PatchArgs>();
  auto* cmd = app.add_subcommand("patch",
                                 "Activation patching (or --attribution patching) between a clean and a "
                                 "corrupted input, by layer x position or layer x head");
  add_model_options(cmd, args->model);
  const char* ids_help =
      "Comma-separated ids (one sequence) or a .safetensors file holding int64 input_ids [batch, "
      "pos] (and optionally attention_mask)";
  cmd->add_option("--clean", args->clean, ids_help);
  cmd->add_option("--corrupted", args->corrupted, ids_help);
  cmd->add_option("--clean-prompt", args->clean_prompt, "Clean text (tokenized by the model's tokenizer)");
  cmd->add_option("--corrupted-prompt", args->corrupted_prompt, "Corrupted text (tokenized by the model's tokenizer)");
  cmd->add_option("--component", args->component,
                  "resid_pre, resid_mid, resid_post, attn_out, mlp_out (by layer x position) or z, q, k, v, pattern "
                  "(by layer x head)")
      ->required();
  cmd->add_flag("--by-position", args->by_position, "Heads: one cell per layer, position and head");
  cmd->add_option("--metric", args->metric, "logit-diff:A,B | logprob:T | loss | kl (A, B, T token ids or texts)")
      ->required();
  cmd->add_flag("--noising", args->noising, "Patch corrupted activations into the clean run (default: the reverse)");
  cmd->add_flag("--attribution", args->attribution,
                "Attribution patching: the gradient estimate of each cell's metric change (one backward)");
  cmd->add_flag("--naive", args->naive, "One full forward per cell (the reference; slow)");
  add_output_options(cmd, args->output,
                     {.out = "Write result, clean_metric and corrupted_metric to this .safetensors file",
                      .plot = "Draw the result as heatmaps (one per layer for heads by position)"});
  cmd->callback([args] { emit(patch(*args), args->output); });
}

}  // namespace arrakis::cli
