#include "analysis/patching_cells.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "arrakis/error.hpp"

namespace arrakis::patching {

CellGrid make_cell_grid(const ModelConfig& config, PatchComponent component, bool by_position, int64_t n_pos) {
  CellGrid grid;
  const int n_layers = static_cast<int>(config.n_layers);
  const int64_t heads = patch_heads(config, component);
  if (!is_head_component(component)) {
    grid.shape = {n_layers, n_pos};
    grid.dims = {"layer", "position"};
    for (int l = 0; l < n_layers; ++l)
      for (int64_t p = 0; p < n_pos; ++p) grid.cells.push_back({l, p, -1});
  } else if (by_position) {
    grid.shape = {n_layers, n_pos, heads};
    grid.dims = {"layer", "position", "head"};
    for (int l = 0; l < n_layers; ++l)
      for (int64_t p = 0; p < n_pos; ++p)
        for (int64_t h = 0; h < heads; ++h) grid.cells.push_back({l, p, h});
  } else {
    grid.shape = {n_layers, heads};
    grid.dims = {"layer", "head"};
    for (int l = 0; l < n_layers; ++l)
      for (int64_t h = 0; h < heads; ++h) grid.cells.push_back({l, -1, h});
  }
  return grid;
}

namespace {

// The cell's part of `x`, whose positions start at absolute position `offset`.
torch::Tensor cell_part(torch::Tensor x, PatchComponent component, const Cell& cell, int64_t offset) {
  // Select the later dim first, so the earlier one keeps its index.
  const int64_t pdim = position_dim(component), hdim = head_dim(component);
  auto select_pos = [&] {
    if (cell.pos >= 0) x = x.select(pdim, cell.pos - offset);
  };
  auto select_head = [&] {
    if (cell.head >= 0) x = x.select(hdim, cell.head);
  };
  if (pdim > hdim) {
    select_pos();
    select_head();
  } else {
    select_head();
    select_pos();
  }
  return x;
}

}  // namespace

void splice(const torch::Tensor& target, const torch::Tensor& source, PatchComponent component, const Cell& cell,
            int64_t offset) {
  const int64_t pdim = position_dim(component);
  auto src = source.narrow(pdim, offset, target.size(pdim)).to(target.device(), target.scalar_type());
  cell_part(target, component, cell, offset).copy_(cell_part(src, component, cell, offset));
}

torch::Tensor changed_positions(const torch::Tensor& source, const torch::Tensor& target, PatchComponent component) {
  auto differs = source.ne(target);
  if (component == PatchComponent::Pattern)  // [b, head, q, k] -> [q, head]
    return differs.any(3).any(0).transpose(0, 1).to(torch::kCPU);
  if (is_head_component(component))  // [b, pos, head, e] -> [pos, head]
    return differs.any(3).any(0).to(torch::kCPU);
  return differs.any(2).any(0).to(torch::kCPU);  // [b, pos, d] -> [pos]
}

int64_t first_changed_position(const torch::Tensor& changed, const Cell& cell) {
  auto column = cell.head >= 0 ? changed.select(1, cell.head) : changed;  // [pos]
  if (cell.pos >= 0) return column[cell.pos].item<bool>() ? cell.pos : -1;
  auto where = column.nonzero();
  return where.size(0) == 0 ? -1 : where[0][0].item<int64_t>();
}

CheckedRuns check_runs(const HookedTransformer& model, const PatchingRuns& runs, bool noising) {
  auto tokens = [&](const torch::Tensor& t, const char* what) {
    if (!t.defined()) throw Error(fmt::format("patching: the {} tokens are missing", what));
    auto out = t.dim() == 1 ? t.unsqueeze(0) : t;
    if (out.dim() != 2)
      throw Error(fmt::format("patching: {} tokens must be [batch, pos], got {}", what, out.sizes().vec()));
    return out.to(model.device(), torch::kInt64);
  };
  CheckedRuns r;
  auto clean = tokens(runs.clean_tokens, "clean");
  auto corrupted = tokens(runs.corrupted_tokens, "corrupted");
  if (clean.sizes() != corrupted.sizes())
    throw Error(
        fmt::format("patching: clean tokens {} and corrupted tokens {} must have the same shape — position p "
                    "of one run is patched into position p of the other (left-pad the shorter prompts and "
                    "pass attention masks)",
                    clean.sizes().vec(), corrupted.sizes().vec()));
  auto mask = [&](const torch::Tensor& m, const char* what) {
    if (!m.defined()) return m;
    if (m.sizes() != clean.sizes())
      throw Error(fmt::format("patching: the {} attention mask has shape {} but the tokens are {}", what,
                              m.sizes().vec(), clean.sizes().vec()));
    return m.to(model.device(), torch::kInt64);
  };
  r.clean_mask = mask(runs.clean_attention_mask, "clean");
  r.corrupted_mask = mask(runs.corrupted_attention_mask, "corrupted");
  r.target_tokens = noising ? clean : corrupted;
  r.source_tokens = noising ? corrupted : clean;
  r.target_mask = noising ? r.clean_mask : r.corrupted_mask;
  r.source_mask = noising ? r.corrupted_mask : r.clean_mask;
  r.batch = clean.size(0);
  r.n_pos = clean.size(1);
  return r;
}

torch::Tensor metric_mean(const Metric& metric, const torch::Tensor& logits, int64_t batch) {
  if (!metric) throw Error("patching: no metric given");
  auto values = metric(logits);
  if (!values.defined() || values.dim() > 1 || (values.dim() == 1 && values.size(0) != batch))
    throw Error(fmt::format("patching: the metric must return one value per prompt [{}] (or a scalar), got shape {}",
                            batch, values.defined() ? values.sizes().vec() : std::vector<int64_t>{}));
  return values.dim() == 0 ? values : values.mean();
}

void require_no_hooks(HookedTransformer& model, const char* what) {
  if (model.hooks().size() != 0)
    throw Error(
        fmt::format("{}: the model has {} hooks registered; remove them first (the sweep runs the model with "
                    "its own hooks, and starts some runs part-way through the model)",
                    what, model.hooks().size()));
}

}  // namespace arrakis::patching
