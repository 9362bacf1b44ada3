#include "arrakis/analysis/activation_patching.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "analysis/patching_cells.hpp"
#include "arrakis/error.hpp"
#include "arrakis/model/hooked_transformer.hpp"

namespace arrakis {

using patching::Cell;

namespace {

// A cell the fast path must run: where its forward starts and which hook splices the source activation in.
struct Plan {
  int64_t index = 0;        // in the result
  Cell cell;
  int start_layer = 0;      // the forward starts here, on the target run's residual stream
  std::string hook;         // hook point of the patch (in block start_layer)
  const torch::Tensor* source = nullptr;  // the source run's activation at that point
  int64_t first = 0;        // first position the patch changes: earlier positions keep the target run's values
};

struct Sweep {
  HookedTransformer& model;
  const Metric& metric;
  const ActivationPatchingOptions& options;
  patching::CheckedRuns runs;
  torch::Tensor target_logits;
  ActivationCache target_cache, source_cache;
  KeyValueCache target_kv;
};

// Rows of one batched forward: cells × prompts × recomputed positions. Bounded so the activations and the logits
// held at once stay within a few hundred MB; small batches are merged because below a few hundred rows the
// matmuls are bound by reading the weights, not by arithmetic.
struct BatchLimits {
  int64_t max_rows = 0, max_logit_rows = 0, min_rows = 256;
};

BatchLimits batch_limits(const Sweep& s) {
  BatchLimits limits;
  const int64_t vocab = s.model.config().vocab_out();
  limits.max_logit_rows = std::max<int64_t>(64, (int64_t{1} << 28) / (4 * std::max<int64_t>(vocab, 1)));
  limits.max_rows = s.options.max_batch_rows > 0 ? s.options.max_batch_rows : 8192;
  return limits;
}

// Runs `chunk` (cells with one start layer and hook, sorted by `first` descending) as one forward; returns each
// cell's mean metric.
std::vector<double> run_chunk(Sweep& s, const std::vector<const Plan*>& chunk) {
  auto& model = s.model;
  const auto& config = model.config();
  const int n_layers = static_cast<int>(config.n_layers);
  const int64_t n = static_cast<int64_t>(chunk.size()), batch = s.runs.batch, n_pos = s.runs.n_pos;
  const int start = chunk.front()->start_layer;
  const int64_t first = chunk.back()->first;  // the smallest: every cell recomputes from here
  const int64_t len = n_pos - first;

  torch::Tensor input = start == 0 ? s.runs.target_tokens.narrow(1, first, len).repeat({n, 1})
                                   : s.target_cache.at("resid_pre", start).narrow(1, first, len).repeat({n, 1, 1});
  ForwardOptions forward;
  forward.start_at_layer = start;
  if (s.options.metric_reads_last_position) forward.stop_at_layer = n_layers;
  KeyValueCache kv;
  if (first > 0) {  // the positions before `first` are the target run's: attend to its keys and values
    kv.keys.resize(n_layers);
    kv.values.resize(n_layers);
    for (int l = start; l < n_layers; ++l) {
      kv.keys[l] = s.target_kv.keys[l].narrow(2, 0, first).repeat({n, 1, 1, 1});
      kv.values[l] = s.target_kv.values[l].narrow(2, 0, first).repeat({n, 1, 1, 1});
    }
    for (int l = 0; l < start; ++l) {  // never read (those layers do not run); only the cache's length is
      kv.keys[l] = kv.keys[start];
      kv.values[l] = kv.values[start];
    }
    if (s.runs.target_mask.defined()) kv.attention_mask = s.runs.target_mask.narrow(1, 0, first).repeat({n, 1});
    forward.kv_cache = &kv;
  }
  if (s.runs.target_mask.defined()) forward.attention_mask = s.runs.target_mask.narrow(1, first, len).repeat({n, 1});

  // Component kind for slicing: resid_post patches may run as resid_pre of the next layer (same tensor shape).
  const PatchComponent kind = s.options.component;
  auto out = model.run_with_hooks(input, {{chunk.front()->hook, [&](const torch::Tensor& act) {
                                             for (int64_t i = 0; i < n; ++i)
                                               patching::splice(act.narrow(0, i * batch, batch), *chunk[i]->source,
                                                                kind, chunk[i]->cell, first);
                                           }}},
                                  forward);

  std::vector<double> values;
  values.reserve(chunk.size());
  if (s.options.metric_reads_last_position) {
    auto logits = model.unembed(model.ln_final(out.narrow(1, len - 1, 1)));  // [n * batch, 1, vocab]
    for (int64_t i = 0; i < n; ++i)
      values.push_back(patching::metric_mean(s.metric, logits.narrow(0, i * batch, batch), batch).item<double>());
  } else {
    auto before = s.target_logits.narrow(1, 0, first);
    for (int64_t i = 0; i < n; ++i) {
      auto logits = torch::cat({before, out.narrow(0, i * batch, batch)}, 1);
      values.push_back(patching::metric_mean(s.metric, logits, batch).item<double>());
    }
  }
  return values;
}

void run_fast(Sweep& s, std::vector<Plan>& plans, torch::Tensor& values, int64_t done, int64_t total) {
  const auto limits = batch_limits(s);
  const int64_t batch = s.runs.batch, n_pos = s.runs.n_pos;
  // By start layer and hook (one batch runs one hook), then latest first position first, so a batch's cells
  // recompute similar spans.
  std::sort(plans.begin(), plans.end(), [](const Plan& a, const Plan& b) {
    if (a.start_layer != b.start_layer) return a.start_layer < b.start_layer;
    if (a.hook != b.hook) return a.hook < b.hook;
    return a.first > b.first;
  });
  auto* out = values.data_ptr<double>();
  std::size_t i = 0;
  while (i < plans.size()) {
    std::vector<const Plan*> chunk{&plans[i]};
    int64_t useful = n_pos - plans[i].first;  // positions the cells need recomputed (summed over cells)
    for (std::size_t j = i + 1;
         j < plans.size() && plans[j].start_layer == plans[i].start_layer && plans[j].hook == plans[i].hook; ++j) {
      const int64_t n = static_cast<int64_t>(chunk.size()) + 1, len = n_pos - plans[j].first;
      const int64_t rows = n * batch * len;
      const int64_t logit_rows = s.options.metric_reads_last_position ? n * batch : rows;
      if (rows > limits.max_rows || logit_rows > limits.max_logit_rows) break;
      // Merging recomputes positions some cells do not need; accept at most 25% of that, unless the batch is small.
      if (rows > limits.min_rows && 4 * n * len > 5 * (useful + len)) break;
      chunk.push_back(&plans[j]);
      useful += len;
    }
    auto chunk_values = run_chunk(s, chunk);
    for (std::size_t k = 0; k < chunk.size(); ++k) out[chunk[k]->index] = chunk_values[k];
    i += chunk.size();
    done += static_cast<int64_t>(chunk.size());
    if (s.options.progress) s.options.progress(done, total);
  }
}

void run_naive(Sweep& s, const std::vector<Plan>& plans, torch::Tensor& values, int64_t done, int64_t total) {
  const PatchComponent kind = s.options.component;
  ForwardOptions forward;
  forward.attention_mask = s.runs.target_mask;
  auto* out = values.data_ptr<double>();
  for (const auto& plan : plans) {
    auto logits = s.model.run_with_hooks(
        s.runs.target_tokens,
        {{plan.hook, [&](const torch::Tensor& act) { patching::splice(act, *plan.source, kind, plan.cell, 0); }}},
        forward);
    out[plan.index] = patching::metric_mean(s.metric, logits, s.runs.batch).item<double>();
    if (s.options.progress) s.options.progress(++done, total);
  }
}

}  // namespace

PatchingResult activation_patching(HookedTransformer& model, const PatchingRuns& runs, const Metric& metric,
                                   const ActivationPatchingOptions& options) {
  patching::require_no_hooks(model, "activation patching");
  torch::NoGradGuard no_grad;
  const auto& config = model.config();
  const int n_layers = static_cast<int>(config.n_layers);
  const bool fast = options.method == PatchingMethod::Fast;
  const PatchComponent component = options.component;
  Sweep s{model, metric, options, patching::check_runs(model, runs, options.noising), {}, {}, {}, {}};

  std::vector<std::string> component_names, target_names;
  for (int l = 0; l < n_layers; ++l) component_names.push_back(patch_hook_name(config, component, l));
  target_names = component_names;
  if (fast && component != PatchComponent::ResidPre)
    for (int l = 0; l < n_layers; ++l) target_names.push_back(patch_hook_name(config, PatchComponent::ResidPre, l));

  ForwardOptions source_forward;
  source_forward.attention_mask = s.runs.source_mask;
  // Both runs take the same code path (the key/value cache stores keys contiguously, which changes the attention
  // matmul's rounding), so activations of positions the prompts share come out bitwise equal and are recognised.
  KeyValueCache source_kv;
  if (fast) source_forward.kv_cache = &source_kv;
  auto [source_logits, source_cache] =
      model.run_with_cache(s.runs.source_tokens, NameFilter(component_names), source_forward);
  s.source_cache = std::move(source_cache);
  ForwardOptions target_forward;
  target_forward.attention_mask = s.runs.target_mask;
  if (fast) target_forward.kv_cache = &s.target_kv;  // the keys and values the fast path reuses
  auto [target_logits, target_cache] =
      model.run_with_cache(s.runs.target_tokens, NameFilter(target_names), target_forward);
  s.target_logits = std::move(target_logits);
  s.target_cache = std::move(target_cache);

  PatchingResult result;
  const double target_metric = patching::metric_mean(metric, s.target_logits, s.runs.batch).item<double>();
  const double source_metric = patching::metric_mean(metric, source_logits, s.runs.batch).item<double>();
  result.clean_metric = options.noising ? target_metric : source_metric;
  result.corrupted_metric = options.noising ? source_metric : target_metric;

  auto grid = patching::make_cell_grid(config, component, options.by_position, s.runs.n_pos);
  result.dims = grid.dims;
  result.cells = static_cast<int64_t>(grid.cells.size());
  auto values = torch::empty({result.cells}, torch::kFloat64);

  std::vector<torch::Tensor> changed(n_layers);
  std::vector<Plan> plans;
  for (int64_t i = 0; i < result.cells; ++i) {
    const Cell& cell = grid.cells[i];
    const auto& name = component_names[cell.layer];
    Plan plan{i, cell, cell.layer, name, &s.source_cache[name], 0};
    if (fast) {
      // Equal source and target activations make the patched run the target run: nothing to compute.
      if (!changed[cell.layer].defined())
        changed[cell.layer] = patching::changed_positions(s.source_cache[name], s.target_cache[name], component);
      plan.first = patching::first_changed_position(changed[cell.layer], cell);
      if (plan.first < 0) {
        values[i] = target_metric;
        ++result.cells_unchanged;
        continue;
      }
      // resid_post of block L is resid_pre of block L + 1 (the same tensor): starting there skips block L.
      if (component == PatchComponent::ResidPost && cell.layer + 1 < n_layers) {
        plan.start_layer = cell.layer + 1;
        plan.hook = patch_hook_name(config, PatchComponent::ResidPre, cell.layer + 1);
      }
    }
    plans.push_back(std::move(plan));
  }
  if (options.progress) options.progress(result.cells_unchanged, result.cells);
  if (fast) run_fast(s, plans, values, result.cells_unchanged, result.cells);
  else run_naive(s, plans, values, 0, result.cells);
  result.values = values.view(grid.shape);
  return result;
}

std::vector<std::vector<std::string>> patching_labels(const HookedTransformer& model, const PatchingResult& result,
                                                      PatchComponent component,
                                                      const std::vector<std::string>& str_tokens) {
  const auto& config = model.config();
  const bool kv_labels = (component == PatchComponent::K || component == PatchComponent::V) &&
                         config.kv_heads() != config.n_heads;
  std::vector<std::vector<std::string>> labels;
  for (std::size_t d = 0; d < result.dims.size(); ++d) {
    const int64_t size = result.values.size(static_cast<int64_t>(d));
    std::vector<std::string> names;
    for (int64_t i = 0; i < size; ++i) {
      const auto& dim = result.dims[d];
      if (dim == "layer") names.push_back(fmt::format("L{}", i));
      else if (dim == "head") names.push_back(fmt::format("{}{}", kv_labels ? "KV" : "H", i));
      else if (static_cast<std::size_t>(i) < str_tokens.size()) names.push_back(fmt::format("{}:{}", i, str_tokens[i]));
      else names.push_back(fmt::format("{}", i));
    }
    labels.push_back(std::move(names));
  }
  return labels;
}

}  // namespace arrakis
