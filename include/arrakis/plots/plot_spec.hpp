#pragma once
// PlotSpec: the seeds' way of asking for a figure — a plot type and the data keys it draws — and plot_results, which
// runs the model once with a cache of exactly the hook points the specs need and returns their figures.
//
//   auto figures = plot_results(model, {PlotSpec{.plot_type = "attention", .data_keys = {"h.1.attn.c_attn"}},
//                                       PlotSpec{.plot_type = "residual_stream"}}, tokens);
//   write_figures("report.html", figures, {.page_title = "..."});
//
// Data keys are hook names ("blocks.1.attn.hook_pattern"), TransformerLens short forms with the spec's layer
// ("pattern", .layer = 1), or module paths of the loaded family ("h.1.attn", "model.layers.1.mlp",
// "layers.1.self_attn.q_proj.hook_result_pre": module_paths.hpp; `arrakis hooks` lists them). Plot types and what
// each draws: docs/plots.md.
#include <optional>
#include <string>
#include <vector>

#include "arrakis/hooks/activation_cache.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/hooked_transformer.hpp"
#include "arrakis/plots/figure.hpp"

namespace arrakis {

struct PlotSpec {
  std::string plot_type;               // plot_types(): "attention", "induction_heads", ...
  std::vector<std::string> data_keys;  // what to draw; empty: the type's default (docs/plots.md)
  std::string title;                   // empty: one saying what is drawn
  std::optional<int> layer;            // the layer of short-form keys, and of types drawn for one layer
  std::optional<int> head;             // attention, qk_dot_product: one head (default: every head of the layer)
  int64_t prompt = 0;                  // which sequence of the batch is drawn where one is
  int64_t top_k = 5;                   // induction_heads: heads shown; neuron_activation_trajectories: units shown
};

/// The plot types, in docs/plots.md's order.
const std::vector<std::string>& plot_types();

/// What a data key names: the hook points holding it and the layer it belongs to (-1 for none).
struct DataKey {
  std::string key;
  std::vector<std::string> hooks;
  int layer = -1;
};
/// arrakis::Error naming the key and listing the closest hook names, short forms and module paths when it names
/// nothing the model has.
DataKey resolve_data_key(HookedTransformer& model, const std::string& key, std::optional<int> layer = std::nullopt);

/// The hook points `spec` reads from the one shared forward (types that run their own input, such as
/// induction_heads on a repeated sequence, read none from it). Errors as plot_figures would raise them.
std::vector<std::string> hooks_needed(HookedTransformer& model, const PlotSpec& spec);

/// The figures of `spec` from a cache of (at least) hooks_needed over `tokens` [batch, pos].
std::vector<Figure> plot_figures(HookedTransformer& model, const PlotSpec& spec, const ActivationCache& cache,
                                 const torch::Tensor& tokens);

/// One forward with exactly the hook points the specs need, then every spec's figures, in order.
std::vector<Figure> plot_results(HookedTransformer& model, const std::vector<PlotSpec>& specs,
                                 const torch::Tensor& tokens);

/// Figures of named tensors that do not come from a cache (a tool's result, an experiment run's results): each 2-D
/// tensor a heatmap, each 1-D tensor a line over its index. arrakis::Error naming a key that is missing.
std::vector<Figure> plot_tensors(const NamedTensors& tensors, const std::vector<std::string>& keys,
                                 const std::string& title_prefix = {});

}  // namespace arrakis
