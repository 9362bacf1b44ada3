#pragma once
// What activation, attribution and path patching share: the cells of a sweep, copying a cell's activation from one
// run into another, and checking the two runs.
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "arrakis/analysis/activation_patching.hpp"
#include "arrakis/analysis/metrics.hpp"
#include "arrakis/model/hooked_transformer.hpp"

namespace arrakis::patching {

/// One patch variant: `pos` -1 = every position, `head` -1 = the whole (residual-stream) activation.
struct Cell {
  int layer = 0;
  int64_t pos = -1;
  int64_t head = -1;
};

/// The cells of a sweep in the order of the result's elements, and the result's shape and dim names.
struct CellGrid {
  std::vector<Cell> cells;
  std::vector<int64_t> shape;
  std::vector<std::string> dims;
};
CellGrid make_cell_grid(const ModelConfig& config, PatchComponent component, bool by_position, int64_t n_pos);

/// The dims of an activation that hold query positions and heads: [b, pos, (head), ...] or pattern [b, head, q, k].
inline int64_t position_dim(PatchComponent c) { return c == PatchComponent::Pattern ? 2 : 1; }
inline int64_t head_dim(PatchComponent c) { return c == PatchComponent::Pattern ? 1 : 2; }

/// Copies cell's part of `source` (a whole run's activation, positions from 0) into `target` (positions from
/// `offset`: the target holds positions offset .. offset + target.size(position_dim) - 1) in place.
void splice(const torch::Tensor& target, const torch::Tensor& source, PatchComponent component, const Cell& cell,
            int64_t offset);

/// Where source and target activations differ: bool [pos] (residual stream) or [pos, head] (heads), true where any
/// element of that position (and head) differs in any prompt. Exact comparison: equal activations leave the patched
/// run equal to the target run.
torch::Tensor changed_positions(const torch::Tensor& source, const torch::Tensor& target, PatchComponent component);
/// The first position the cell's patch changes, or -1 when it changes nothing.
int64_t first_changed_position(const torch::Tensor& changed, const Cell& cell);

/// The runs, checked and on the model's device: target is the run patched, source the run patched from.
struct CheckedRuns {
  torch::Tensor target_tokens, source_tokens, target_mask, source_mask, clean_mask, corrupted_mask;
  int64_t batch = 0, n_pos = 0;
};
CheckedRuns check_runs(const HookedTransformer& model, const PatchingRuns& runs, bool noising);

/// Mean over prompts of a metric's per-prompt values (a scalar is taken as is); arrakis::Error for other shapes.
torch::Tensor metric_mean(const Metric& metric, const torch::Tensor& logits, int64_t batch);

/// arrakis::Error when the model has hooks registered (a sweep's runs would run them, and skip some of them).
void require_no_hooks(HookedTransformer& model, const char* what);

}  // namespace arrakis::patching
