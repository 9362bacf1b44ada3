#include "arrakis/analysis/attribution_patching.hpp"

#include <map>

#include "analysis/patching_cells.hpp"
#include "arrakis/error.hpp"
#include "arrakis/model/hooked_transformer.hpp"

namespace arrakis {

PatchingResult attribution_patching(HookedTransformer& model, const PatchingRuns& runs, const Metric& metric,
                                    const AttributionPatchingOptions& options) {
  patching::require_no_hooks(model, "attribution patching");
  const auto& config = model.config();
  const int n_layers = static_cast<int>(config.n_layers);
  const PatchComponent component = options.component;
  auto checked = patching::check_runs(model, runs, options.noising);
  std::vector<std::string> names;
  for (int l = 0; l < n_layers; ++l) names.push_back(patch_hook_name(config, component, l));

  torch::Tensor source_logits;
  ActivationCache source;
  {
    torch::NoGradGuard no_grad;
    ForwardOptions forward;
    forward.attention_mask = checked.source_mask;
    std::tie(source_logits, source) = model.run_with_cache(checked.source_tokens, NameFilter(names), forward);
  }

  // The target run keeps its graph; backward hooks collect the metric's gradient at every patched point. (A hooked
  // activation with nothing upstream needing a gradient becomes a leaf, so the weights need none.)
  torch::AutoGradMode grad_mode(true);
  std::map<std::string, torch::Tensor> grads;
  auto guard = model.add_hook(
      NameFilter(names), [&grads](const torch::Tensor& grad, const HookPoint& point) { grads[point.name] = grad; },
      HookDirection::Backward);
  ForwardOptions forward;
  forward.attention_mask = checked.target_mask;
  auto [target_logits, target] = model.run_with_cache(checked.target_tokens, NameFilter(names), forward);
  auto target_metric = patching::metric_mean(metric, target_logits, checked.batch);
  if (!target_metric.requires_grad())
    throw Error("attribution patching: the metric's value does not depend on the activations (is it differentiable?)");
  target_metric.backward();
  guard.remove();

  PatchingResult result;
  const double target_value = target_metric.item<double>();
  const double source_value = patching::metric_mean(metric, source_logits.detach(), checked.batch).item<double>();
  result.clean_metric = options.noising ? target_value : source_value;
  result.corrupted_metric = options.noising ? source_value : target_value;

  std::vector<torch::Tensor> per_layer;
  for (const auto& name : names) {
    auto it = grads.find(name);
    if (it == grads.end()) throw Error("attribution patching: no gradient reached " + name);
    auto product = ((source[name] - target[name]) * it->second).to(torch::kFloat64).sum(0);  // batch summed
    torch::Tensor cells;
    if (component == PatchComponent::Pattern)
      cells = product.sum(-1).transpose(0, 1);  // [head, q, k] -> [q, head]
    else
      cells = product.sum(-1);                                                       // [pos] or [pos, head]
    if (is_head_component(component) && !options.by_position) cells = cells.sum(0);  // [head]
    per_layer.push_back(cells.detach().cpu());
  }
  result.values = torch::stack(per_layer);
  auto grid = patching::make_cell_grid(config, component, options.by_position, checked.n_pos);
  result.dims = grid.dims;
  result.cells = static_cast<int64_t>(grid.cells.size());
  return result;
}

}  // namespace arrakis
