#pragma once
// Activation patching (TransformerLens' `patching.get_act_patch_*`): for every cell (layer × position, layer × head
// or layer × position × head) run the model on one input with that cell's activation replaced by its value from
// another input, and record a metric of the result.
//
// Two implementations with the same results (within float rounding): the naive one runs one full forward per cell
// (the reference); the fast one reuses everything a patch cannot change — every layer before the patched one and
// every position before the first one the patch alters — and batches many cells into one forward. See
// docs/patching.md for why the fast one is exact.
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "arrakis/analysis/metrics.hpp"
#include "arrakis/analysis/patch_component.hpp"

namespace arrakis {

class HookedTransformer;

/// The two runs of a patching experiment. Tokens are [batch, pos] (int64) of the same shape: position p of one run
/// is paired with position p of the other. Masks ([batch, pos], 1 = real token) allow left-padded batches.
struct PatchingRuns {
  torch::Tensor clean_tokens, corrupted_tokens;
  torch::Tensor clean_attention_mask, corrupted_attention_mask;  // undefined = no padding
};

/// The result of a sweep.
struct PatchingResult {
  /// [layer, pos] for residual-stream components; [layer, head] for heads over all positions; [layer, pos, head]
  /// for heads by position. Activation patching: the patched run's metric (mean over prompts). Attribution patching:
  /// the linear estimate of the metric's change (patched − unpatched). Float64 on the CPU.
  torch::Tensor values;
  std::vector<std::string> dims;                  // e.g. {"layer", "position"}
  double clean_metric = 0, corrupted_metric = 0;  // mean metric of the unpatched runs
  int64_t cells = 0;                              // patch variants in the sweep
  int64_t cells_unchanged = 0;  // of those, variants whose source and target activations are identical (no forward)
  /// The floating-point work no exact sweep can avoid: for each cell whose patch changes something, from the first
  /// position p it changes, the blocks after the patch point on positions p..end (matmuls and attention), and the
  /// unembedding of the positions the metric reads. What `arrakis bench patching` holds the fast path's time against.
  double necessary_gflop = 0;
};

enum class PatchingMethod {
  Fast,   // reuse earlier layers and positions, batch cells (the default)
  Naive,  // one full forward per cell (the reference)
};

struct ActivationPatchingOptions {
  PatchComponent component = PatchComponent::ResidPre;
  /// Heads only: one cell per (layer, position, head) instead of (layer, head) over all positions. Residual-stream
  /// components are always patched by layer × position.
  bool by_position = false;
  /// false (denoising, TransformerLens' default): clean activations patched into the corrupted run. true (noising):
  /// corrupted activations patched into the clean run.
  bool noising = false;
  PatchingMethod method = PatchingMethod::Fast;
  /// The metric reads only the last position's logits (as logit-diff, logprob and kl at position -1 do): the fast
  /// path then unembeds only that position and passes logits [batch, 1, vocab].
  bool metric_reads_last_position = false;
  /// With metric_reads_last_position: the metric reads only these vocabulary entries (as a logit difference reads
  /// its two tokens). The fast path then computes only those logits; every other entry it hands the metric is NaN,
  /// so a metric that reads more shows it. Empty: every logit.
  std::vector<int64_t> metric_reads_tokens;
  /// Fast path: most rows (cells × prompts × recomputed positions) in one batched forward; 0 = automatic (bounds the
  /// logits held at once to a few hundred MB).
  int64_t max_batch_rows = 0;
  /// Called after each batch (fast) or cell (naive) with cells done and cells in all.
  std::function<void(int64_t done, int64_t total)> progress;
};

/// Runs the sweep. The model must have no hooks registered (the sweep adds its own). Throws arrakis::Error for
/// mismatched runs, a component the model lacks, or a metric that does not return one value per prompt.
PatchingResult activation_patching(HookedTransformer& model, const PatchingRuns& runs, const Metric& metric,
                                   const ActivationPatchingOptions& options);

/// Human-readable names of the values' rows/columns: "L3", "H2" (or "KV1" for k and v of grouped-query models),
/// positions as "5" or, given the run's string tokens, "5:' John'". One vector per dim of `result.values`.
std::vector<std::vector<std::string>> patching_labels(const HookedTransformer& model, const PatchingResult& result,
                                                      PatchComponent component,
                                                      const std::vector<std::string>& str_tokens = {});

}  // namespace arrakis
