#include "arrakis/analysis/path_patching.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <tuple>

#include "analysis/patching_cells.hpp"
#include "arrakis/error.hpp"
#include "arrakis/hooks/hook_catalogue.hpp"
#include "arrakis/model/hooked_transformer.hpp"

namespace arrakis {
namespace {

std::string receiver_hook(const PathReceiver& r) {
  const HookKind input = r.input == PathReceiver::Input::Q   ? HookKind::QInput
                         : r.input == PathReceiver::Input::K ? HookKind::KInput
                                                             : HookKind::VInput;
  return hook_name(input, r.layer);
}

// Restores the model's split q/k/v setting when the sweep ends (or throws).
class SplitQkvScope {
 public:
  SplitQkvScope(HookedTransformer& model, bool on) : model_(model), before_(model.use_split_qkv_input()) {
    if (on != before_) model_.set_use_split_qkv_input(on);
  }
  ~SplitQkvScope() {
    if (model_.use_split_qkv_input() != before_) model_.set_use_split_qkv_input(before_);
  }
  SplitQkvScope(const SplitQkvScope&) = delete;
  SplitQkvScope& operator=(const SplitQkvScope&) = delete;

 private:
  HookedTransformer& model_;
  bool before_;
};

}  // namespace

PatchingResult path_patching(HookedTransformer& model, const PatchingRuns& runs, const Metric& metric,
                             const PathPatchingOptions& options) {
  patching::require_no_hooks(model, "path patching");
  torch::NoGradGuard no_grad;
  const auto& config = model.config();
  const int n_layers = static_cast<int>(config.n_layers);
  if (options.sender != PatchComponent::Z && options.sender != PatchComponent::AttnOut &&
      options.sender != PatchComponent::MlpOut)
    throw Error(fmt::format("path patching: senders are heads (z), attn_out or mlp_out, not {}",
                            patch_component_name(options.sender)));
  int last_receiver = -1;
  for (const auto& r : options.receivers) {
    const int64_t heads = r.input == PathReceiver::Input::Q ? config.n_heads : config.kv_heads();
    if (r.layer < 0 || r.layer >= n_layers || r.head < 0 || r.head >= heads)
      throw Error(fmt::format("path patching: receiver {} head {} is not in the model ({} layers, {} {} heads)",
                              receiver_hook(r), r.head, n_layers, heads,
                              r.input == PathReceiver::Input::Q ? "query" : "key/value"));
    last_receiver = std::max(last_receiver, r.layer);
  }
  const bool to_logits = options.receivers.empty();
  SplitQkvScope split(model, !to_logits);
  auto checked = patching::check_runs(model, runs, options.noising);

  std::vector<std::string> z_names, sender_names, resid_names;
  for (int l = 0; l < n_layers; ++l) {
    z_names.push_back(patch_hook_name(config, PatchComponent::Z, l));
    sender_names.push_back(patch_hook_name(config, options.sender, l));
    resid_names.push_back(patch_hook_name(config, PatchComponent::ResidPre, l));
  }
  ForwardOptions source_forward, target_forward;
  source_forward.attention_mask = checked.source_mask;
  target_forward.attention_mask = checked.target_mask;
  torch::Tensor source_logits, target_logits;
  ActivationCache source, target;
  std::tie(source_logits, source) =
      model.run_with_cache(checked.source_tokens, NameFilter(sender_names), source_forward);
  auto target_filter = z_names;
  target_filter.insert(target_filter.end(), resid_names.begin(), resid_names.end());
  std::tie(target_logits, target) =
      model.run_with_cache(checked.target_tokens, NameFilter(target_filter), target_forward);

  PatchingResult result;
  const double target_value = patching::metric_mean(metric, target_logits, checked.batch).item<double>();
  const double source_value = patching::metric_mean(metric, source_logits, checked.batch).item<double>();
  result.clean_metric = options.noising ? target_value : source_value;
  result.corrupted_metric = options.noising ? source_value : target_value;

  const bool heads = options.sender == PatchComponent::Z;
  const int64_t n_heads = heads ? config.n_heads : 1;
  result.dims = heads ? std::vector<std::string>{"layer", "head"} : std::vector<std::string>{"layer"};
  result.cells = n_layers * n_heads;
  auto values = torch::full({result.cells}, std::numeric_limits<double>::quiet_NaN(), torch::kFloat64);
  auto* out = values.data_ptr<double>();

  // A run of the target from `layer` on (its residual stream there is the target run's).
  auto run_from = [&](int layer, const NamedHooks& hooks, int stop) {
    ForwardOptions forward = target_forward;
    forward.start_at_layer = layer;
    forward.stop_at_layer = stop;
    auto input = layer == 0 ? checked.target_tokens : target[resid_names[layer]];
    return model.run_with_hooks(input, hooks, forward);
  };

  int64_t done = 0;
  for (int layer = 0; layer < n_layers; ++layer) {
    for (int64_t head = 0; head < n_heads; ++head, ++done) {
      if (options.progress) options.progress(done, result.cells);
      if (!to_logits && layer >= last_receiver) continue;  // no path from this sender to a receiver
      // Step 1: the sender from the source run; every later head frozen at its target value.
      NamedHooks hooks;
      const auto& sender_source = source[sender_names[layer]];
      if (heads) {
        hooks.emplace_back(sender_names[layer], [&, head](const torch::Tensor& z) {
          z.select(2, head).copy_(sender_source.select(2, head));
        });
      } else {
        hooks.emplace_back(sender_names[layer], [&](const torch::Tensor& act) { act.copy_(sender_source); });
      }
      for (int later = layer + 1; later < n_layers; ++later)
        hooks.emplace_back(z_names[later], [&, later](const torch::Tensor& z) { z.copy_(target[z_names[later]]); });
      if (to_logits) {
        out[layer * n_heads + head] =
            patching::metric_mean(metric, run_from(layer, hooks, -1), checked.batch).item<double>();
        continue;
      }
      // Step 2: record the receivers' inputs in that run, then patch only them into a fresh target run. Receivers
      // at or before the sender's layer read the target run's residual stream anyway.
      std::vector<torch::Tensor> recorded(options.receivers.size());
      int first_reached = n_layers;
      for (std::size_t i = 0; i < options.receivers.size(); ++i) {
        const auto& r = options.receivers[i];
        if (r.layer <= layer) continue;
        first_reached = std::min(first_reached, r.layer);
        hooks.emplace_back(receiver_hook(r), [&recorded, i, r](const torch::Tensor& input) {
          recorded[i] = input.select(2, r.head).clone();
        });
      }
      run_from(layer, hooks, last_receiver + 1);
      NamedHooks patch;
      for (std::size_t i = 0; i < options.receivers.size(); ++i) {
        const auto& r = options.receivers[i];
        if (!recorded[i].defined()) continue;
        patch.emplace_back(receiver_hook(r), [&recorded, i, r](const torch::Tensor& input) {
          input.select(2, r.head).copy_(recorded[i]);
        });
      }
      out[layer * n_heads + head] =
          patching::metric_mean(metric, run_from(first_reached, patch, -1), checked.batch).item<double>();
    }
  }
  if (options.progress) options.progress(result.cells, result.cells);
  result.values = heads ? values.view({n_layers, n_heads}) : values;
  return result;
}

}  // namespace arrakis
