#pragma once
// Attribution patching: the gradient (first-order) estimate of every activation-patching cell at once, from one
// forward of the source run, one forward of the target run with its cache, and one backward of the metric:
//   attribution(cell) = Σ_{prompts, cell's elements} (source − target) · ∂metric/∂activation (at the target run)
// summed over d_model / d_head (and key positions for patterns), as in TransformerLens' attribution-patching demo.
// It estimates the metric's change patched − target of the activation patching sweep with the same options.
#include "arrakis/analysis/activation_patching.hpp"

namespace arrakis {

struct AttributionPatchingOptions {
  PatchComponent component = PatchComponent::ResidPre;
  bool by_position = false;  // heads: [layer, pos, head] instead of [layer, head]
  bool noising = false;      // false: clean into corrupted (gradient at the corrupted run); true: the reverse
};

/// PatchingResult::values holds the estimated change of the mean metric, shaped as activation_patching's values.
/// The metric must be differentiable. The model must have no hooks registered.
PatchingResult attribution_patching(HookedTransformer& model, const PatchingRuns& runs, const Metric& metric,
                                    const AttributionPatchingOptions& options);

}  // namespace arrakis
