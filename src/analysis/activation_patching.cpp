#include "arrakis/analysis/activation_patching.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>

#include "analysis/patching_cells.hpp"
#include "arrakis/error.hpp"
#include "arrakis/model/hooked_transformer.hpp"

namespace arrakis {

using patching::Cell;

namespace {

// A cell the fast path must run: where its forward starts and which hook splices the source activation in.
struct Plan {
  int64_t index = 0;  // in the result
  Cell cell;
  int start_layer = 0;                    // the forward starts here, on the target run's residual stream
  std::string hook;                       // hook point of the patch (in block start_layer)
  const torch::Tensor* source = nullptr;  // the source run's activation at that point
  int64_t first = 0;  // first position the patch changes: earlier positions keep the target run's values
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

// The fast path runs every cell's patched forward block by block, all cells together: at block l the cells whose
// patch point lies in block l join the cells still running from earlier blocks, so each block's matmuls see the rows
// of many cells at once (large, efficient products) while each cell recomputes only its own positions first..end.
// Per block, the running cells are stacked into a few batched forwards of that one block: cells are grouped so that
// the positions a group recomputes beyond what its cells need (the group starts at its smallest `first`) stay under a
// quarter, or the group is small.
struct Running {
  const Plan* plan = nullptr;
  torch::Tensor resid;  // [batch, n_pos - first, d_model]: the residual stream entering the next block
};

struct BatchLimits {
  int64_t max_rows = 0, max_logit_rows = 0, min_rows = 32;
  int64_t max_state_bytes = int64_t{1} << 29;  // residual streams of the cells in flight at once (512 MB)
};

BatchLimits batch_limits(const Sweep& s) {
  BatchLimits limits;
  const int64_t vocab = s.model.config().vocab_out();
  limits.max_logit_rows = std::max<int64_t>(64, (int64_t{1} << 28) / (4 * std::max<int64_t>(vocab, 1)));
  limits.max_rows = s.options.max_batch_rows > 0 ? s.options.max_batch_rows : 8192;
  return limits;
}

// One batched forward of block `layer` for `group` (sorted by `first`, descending); entering cells get their splice.
void run_block_group(Sweep& s, int layer, std::vector<Running*>& group) {
  auto& model = s.model;
  const int n_layers = static_cast<int>(model.config().n_layers);
  const int64_t n = static_cast<int64_t>(group.size()), batch = s.runs.batch, n_pos = s.runs.n_pos;
  const int64_t first = group.back()->plan->first;  // the smallest: the group recomputes from here
  const int64_t len = n_pos - first;
  const auto& target_resid = s.target_cache.at("resid_pre", layer);  // (block 0's is the embedding of the tokens)

  // Each cell's input: the target run's residual stream for positions first..own first - 1 (which its patch cannot
  // have changed), then its own.
  // Block 0 starts from tokens: every cell enters there, from the target run's tokens.
  torch::Tensor input;
  if (layer == 0) {
    input = s.runs.target_tokens.narrow(1, first, len).repeat({n, 1});
  } else {
    std::vector<torch::Tensor> inputs;
    inputs.reserve(group.size());
    for (auto* cell : group) {
      const int64_t own = cell->plan->first;
      if (!cell->resid.defined())
        inputs.push_back(target_resid.narrow(1, first, len));
      else if (own == first)
        inputs.push_back(cell->resid);
      else
        inputs.push_back(torch::cat({target_resid.narrow(1, first, own - first), cell->resid}, 1));
    }
    input = torch::cat(inputs, 0);  // [n * batch, len, d_model]
  }

  ForwardOptions forward;
  forward.start_at_layer = layer;
  forward.stop_at_layer = layer + 1;
  KeyValueCache kv;
  if (first > 0) {  // the positions before `first` are the target run's: attend to its keys and values
    kv.keys.assign(n_layers, {});
    kv.values.assign(n_layers, {});
    kv.keys[layer] = s.target_kv.keys[layer].narrow(2, 0, first).repeat({n, 1, 1, 1});
    kv.values[layer] = s.target_kv.values[layer].narrow(2, 0, first).repeat({n, 1, 1, 1});
    kv.keys[0] = kv.keys[layer];  // only the cache's length is read from layer 0
    if (s.runs.target_mask.defined()) kv.attention_mask = s.runs.target_mask.narrow(1, 0, first).repeat({n, 1});
    forward.kv_cache = &kv;
  }
  if (s.runs.target_mask.defined()) forward.attention_mask = s.runs.target_mask.narrow(1, first, len).repeat({n, 1});

  // Cells whose patch point is in this block splice their source activation in (a hook per distinct point).
  const PatchComponent kind = s.options.component;
  std::map<std::string, std::vector<int64_t>> entering;  // hook -> indices into group
  for (int64_t i = 0; i < n; ++i)
    if (!group[i]->resid.defined()) entering[group[i]->plan->hook].push_back(i);
  // In the last block a last-position metric needs only the last position's output; the others give keys and values.
  const bool last_only = layer == n_layers - 1 && s.options.metric_reads_last_position && entering.empty();
  if (last_only) forward.last_block_query_positions = 1;
  NamedHooks hooks;
  for (const auto& [hook, members] : entering)
    hooks.emplace_back(hook, [&, members = members](const torch::Tensor& act) {
      for (int64_t i : members)
        patching::splice(act.narrow(0, i * batch, batch), *group[i]->plan->source, kind, group[i]->plan->cell, first);
    });
  auto out = model.run_with_hooks(input, hooks, forward);  // [n * batch, len, d_model]
  for (int64_t i = 0; i < n; ++i) {
    const int64_t own = group[i]->plan->first;
    auto rows = out.narrow(0, i * batch, batch);
    group[i]->resid = last_only ? rows : rows.narrow(1, own - first, n_pos - own);
  }
}

// Groups the running cells of one block (sorted by `first`, descending) into batched forwards.
std::vector<std::vector<Running*>> group_cells(std::vector<Running*>& cells, const BatchLimits& limits, int64_t batch,
                                               int64_t n_pos) {
  std::sort(cells.begin(), cells.end(), [](const Running* a, const Running* b) {
    if (a->plan->first != b->plan->first) return a->plan->first > b->plan->first;
    return a->plan->index < b->plan->index;
  });
  std::vector<std::vector<Running*>> groups;
  std::size_t i = 0;
  while (i < cells.size()) {
    std::vector<Running*> group{cells[i]};
    int64_t useful = n_pos - cells[i]->plan->first;  // positions the cells need recomputed (summed over cells)
    for (std::size_t j = i + 1; j < cells.size(); ++j) {
      const int64_t n = static_cast<int64_t>(group.size()) + 1, len = n_pos - cells[j]->plan->first;
      const int64_t rows = n * batch * len;
      if (rows > limits.max_rows) break;
      // Merging recomputes positions some cells do not need; accept at most 25% of that, unless the batch is small.
      if (rows > limits.min_rows && 4 * n * len > 5 * (useful + len)) break;
      group.push_back(cells[j]);
      useful += len;
    }
    i += group.size();
    groups.push_back(std::move(group));
  }
  return groups;
}

// The metric of every finished cell, from its final residual stream.
void finish_cells(Sweep& s, std::vector<Running>& cells, double* out, const BatchLimits& limits) {
  auto& model = s.model;
  const int64_t batch = s.runs.batch;
  if (!s.options.metric_reads_last_position) {
    for (auto& cell : cells) {
      const int64_t first = cell.plan->first;
      auto logits = torch::cat({s.target_logits.narrow(1, 0, first), model.unembed(model.ln_final(cell.resid))}, 1);
      out[cell.plan->index] = patching::metric_mean(s.metric, logits, batch).item<double>();
    }
    return;
  }
  const auto& tokens = s.options.metric_reads_tokens;
  torch::Tensor W_U, b_U, columns;
  if (!tokens.empty()) {  // only the logits the metric reads: a few columns of the unembedding
    columns = torch::tensor(tokens, torch::kInt64).to(model.device());
    W_U = model.weights().W_U.index_select(1, columns);
    if (model.weights().b_U.defined()) b_U = model.weights().b_U.index_select(0, columns);
  }
  const int64_t per_chunk = std::max<int64_t>(1, limits.max_logit_rows / batch);
  for (std::size_t start = 0; start < cells.size(); start += per_chunk) {
    const std::size_t end = std::min(cells.size(), start + per_chunk);
    std::vector<torch::Tensor> last;
    for (std::size_t i = start; i < end; ++i) last.push_back(cells[i].resid.narrow(1, -1, 1));
    auto normalized = model.ln_final(torch::cat(last, 0));  // [cells * batch, 1, d_model]
    torch::Tensor logits;
    if (tokens.empty()) {
      logits = model.unembed(normalized);
    } else {
      auto picked = torch::matmul(normalized, W_U);
      if (b_U.defined()) picked = picked + b_U;
      logits = torch::full({normalized.size(0), 1, model.config().vocab_out()}, std::nan(""), picked.options());
      logits.index_copy_(2, columns, picked);
    }
    for (std::size_t i = start; i < end; ++i)
      out[cells[i].plan->index] =
          patching::metric_mean(s.metric, logits.narrow(0, static_cast<int64_t>(i - start) * batch, batch), batch)
              .item<double>();
  }
}

// Runs `plans` (one wave: their residual streams fit the memory bound) block by block.
void run_wave(Sweep& s, std::vector<Running>& cells, double* out, const BatchLimits& limits,
              const std::function<void(int64_t)>& report) {
  const int n_layers = static_cast<int>(s.model.config().n_layers);
  int first_layer = n_layers;
  for (const auto& cell : cells) first_layer = std::min(first_layer, cell.plan->start_layer);
  for (int layer = first_layer; layer < n_layers; ++layer) {
    std::vector<Running*> active;
    for (auto& cell : cells)
      if (cell.plan->start_layer <= layer) active.push_back(&cell);
    // In the last block, cells already running can skip all but the last position (see run_block_group); those that
    // start there cannot (their splice needs every position), so they run apart.
    std::vector<Running*> starting;
    if (layer == n_layers - 1 && s.options.metric_reads_last_position) {
      auto starts_here = [&](const Running* cell) { return cell->plan->start_layer == layer; };
      std::copy_if(active.begin(), active.end(), std::back_inserter(starting), starts_here);
      std::erase_if(active, starts_here);
    }
    for (auto* cells_of_block : {&active, &starting})
      for (auto& group : group_cells(*cells_of_block, limits, s.runs.batch, s.runs.n_pos))
        run_block_group(s, layer, group);
    active.insert(active.end(), starting.begin(), starting.end());
    report(static_cast<int64_t>(active.size()));
  }
  finish_cells(s, cells, out, limits);
}

void run_fast(Sweep& s, std::vector<Plan>& plans, torch::Tensor& values, int64_t done, int64_t total) {
  const auto limits = batch_limits(s);
  const int n_layers = static_cast<int>(s.model.config().n_layers);
  const int64_t row_bytes = s.runs.batch * s.model.config().d_model * 4;
  // Waves of cells whose residual streams fit the memory bound, earliest patch points first.
  std::sort(plans.begin(), plans.end(), [](const Plan& a, const Plan& b) {
    if (a.start_layer != b.start_layer) return a.start_layer < b.start_layer;
    return a.index < b.index;
  });
  // Progress counts cell-blocks: a cell starting at block L is n_layers - L of them.
  int64_t work_total = 0, work_done = 0;
  for (const auto& plan : plans) work_total += n_layers - plan.start_layer;
  const int64_t to_run = static_cast<int64_t>(plans.size());
  auto report = [&](int64_t cell_blocks) {
    work_done += cell_blocks;
    if (s.options.progress && work_total > 0) s.options.progress(done + to_run * work_done / work_total, total);
  };
  auto* out = values.data_ptr<double>();
  std::size_t i = 0;
  while (i < plans.size()) {
    std::vector<Running> wave;
    int64_t bytes = 0;
    for (; i < plans.size(); ++i) {
      const int64_t cell_bytes = row_bytes * (s.runs.n_pos - plans[i].first);
      if (!wave.empty() && bytes + cell_bytes > limits.max_state_bytes) break;
      wave.push_back({&plans[i], {}});
      bytes += cell_bytes;
    }
    run_wave(s, wave, out, limits, report);
  }
}

// The work an exact cell cannot avoid once its patch changes positions first..end from block `start` on (see
// PatchingResult::necessary_gflop): per prompt and position, each block's projections, attention over the keys that
// position sees, and MLP; then the unembedding of the positions the metric reads.
double necessary_flop(const Sweep& s, int start, int64_t first) {
  const auto& c = s.model.config();
  const double d = static_cast<double>(c.d_model), q = static_cast<double>(c.n_heads * c.d_head);
  const double kv = static_cast<double>(c.kv_heads() * c.d_head);
  double per_position = 2 * d * q + 2 * 2 * d * kv + 2 * q * d;
  if (c.has_mlp()) per_position += 2 * d * static_cast<double>(c.d_mlp) * (c.gated_mlp ? 3 : 2);
  double flop = 0;
  for (int l = start; l < c.n_layers; ++l) {
    const int64_t window = c.attn_window(l);
    for (int64_t p = first; p < s.runs.n_pos; ++p) {
      const int64_t keys = window > 0 ? std::min(p + 1, window) : p + 1;
      flop += per_position + 2 * 2 * q * static_cast<double>(keys);
    }
  }
  const int64_t read = s.options.metric_reads_last_position ? 1 : s.runs.n_pos - first;
  flop += 2 * d * static_cast<double>(c.vocab_out()) * static_cast<double>(read);
  return flop * static_cast<double>(s.runs.batch);
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
    if (!changed[cell.layer].defined())
      changed[cell.layer] = patching::changed_positions(s.source_cache[name], s.target_cache[name], component);
    const int64_t first = patching::first_changed_position(changed[cell.layer], cell);
    // resid_post of block L is resid_pre of block L + 1 (the same tensor): the blocks after the patch start there.
    const int after_patch = component == PatchComponent::ResidPost ? cell.layer + 1 : cell.layer;
    if (first >= 0) result.necessary_gflop += necessary_flop(s, after_patch, first) / 1e9;
    if (fast) {
      // Equal source and target activations make the patched run the target run: nothing to compute.
      if (first < 0) {
        values[i] = target_metric;
        ++result.cells_unchanged;
        continue;
      }
      plan.first = first;
      if (after_patch < n_layers && after_patch != cell.layer) {
        plan.start_layer = after_patch;
        plan.hook = patch_hook_name(config, PatchComponent::ResidPre, after_patch);
      }
    }
    plans.push_back(std::move(plan));
  }
  if (options.progress) options.progress(result.cells_unchanged, result.cells);
  if (fast)
    run_fast(s, plans, values, result.cells_unchanged, result.cells);
  else
    run_naive(s, plans, values, 0, result.cells);
  result.values = values.view(grid.shape);
  return result;
}

std::vector<std::vector<std::string>> patching_labels(const HookedTransformer& model, const PatchingResult& result,
                                                      PatchComponent component,
                                                      const std::vector<std::string>& str_tokens) {
  const auto& config = model.config();
  const bool kv_labels =
      (component == PatchComponent::K || component == PatchComponent::V) && config.kv_heads() != config.n_heads;
  std::vector<std::vector<std::string>> labels;
  for (std::size_t d = 0; d < result.dims.size(); ++d) {
    const int64_t size = result.values.size(static_cast<int64_t>(d));
    std::vector<std::string> names;
    for (int64_t i = 0; i < size; ++i) {
      const auto& dim = result.dims[d];
      if (dim == "layer")
        names.push_back(fmt::format("L{}", i));
      else if (dim == "head")
        names.push_back(fmt::format("{}{}", kv_labels ? "KV" : "H", i));
      else if (static_cast<std::size_t>(i) < str_tokens.size())
        names.push_back(fmt::format("{}:{}", i, str_tokens[i]));
      else
        names.push_back(fmt::format("{}", i));
    }
    labels.push_back(std::move(names));
  }
  return labels;
}

}  // namespace arrakis
