#pragma once
// Path patching (Wang et al., "Interpretability in the Wild"; TransformerLens / ARENA's definition): the effect of a
// sender component on chosen receivers only. For each sender:
//   1. run the target with the sender's output taken from the source run and every attention head of the layers
//      after it frozen at its target-run value (z); MLPs are recomputed, so the effect flows through them;
//   2. receivers = the logits: the metric of that run. Receivers = heads' queries/keys/values: record each
//      receiver's input there (hook_q_input / hook_k_input / hook_v_input), then run the target again with only those
//      inputs replaced, everything else recomputed, and take the metric.
#include <functional>
#include <vector>

#include "arrakis/analysis/activation_patching.hpp"

namespace arrakis {

/// A head's query, key or value input. For k and v of grouped-query models `head` is a key/value head.
struct PathReceiver {
  enum class Input { Q, K, V };
  int layer = 0;
  int64_t head = 0;
  Input input = Input::Q;
};

struct PathPatchingOptions {
  /// Z: every head is a sender (values [layer, head]); AttnOut or MlpOut: every layer's attention or MLP output is
  /// (values [layer]).
  PatchComponent sender = PatchComponent::Z;
  /// Empty: the logits (the final residual stream). Senders that cannot reach any receiver (at or after the last
  /// receiver's layer) get NaN.
  std::vector<PathReceiver> receivers;
  bool noising = false;  // false: senders from the clean run into the corrupted run; true: the reverse
  std::function<void(int64_t done, int64_t total)> progress;
};

/// PatchingResult::values holds the patched metric (mean over prompts). The model must have no hooks registered;
/// split q/k/v inputs are switched on for the sweep and restored after it.
PatchingResult path_patching(HookedTransformer& model, const PatchingRuns& runs, const Metric& metric,
                             const PathPatchingOptions& options);

}  // namespace arrakis
