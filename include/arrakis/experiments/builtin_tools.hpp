#pragma once
// The tools every InterpretabilityBench registers under these names before a user adds their own:
//   "activations"  ActivationTool  — run the model and cache activations (run_with_cache)
//   "profiler"     ProfilerTool    — time and memory per component (profile_model)
//   "statistics"   StatisticsTool  — hypothesis tests on metrics (test_hypothesis)
//   "head_detector"        HeadDetectorTool        — previous-token / duplicate / induction scores (head_scores)
//   "logit_lens"           LogitLensTool           — the residual stream decoded after each layer (run_logit_lens)
//   "logit_attribution"    LogitAttributionTool    — direct logit attribution (run_direct_logit_attribution)
//   "activation_patching"  ActivationPatchingTool  — patching sweeps (activation_patching)
// Each wraps the analysis of the same name in src/analysis/ (docs/analysis.md) for the bench's model. The seeds'
// tools, whose methods are declared for the shell too (include/arrakis/tools/, docs/tools.md):
//   "write_read"  WriteReadTool  — write heads, read heads, information flow between positions
//   "composer"    ComposerTool   — composition scores and virtual weights between heads
//   "attention"   AttentionTool  — attention patterns, most-attended tokens, entropy
//   "causal"      CausalTool     — causal tracing (ROME), interventions on MLP neurons
//   "residual"    ResidualTool   — residual decomposition and movement, feature attribution (integrated gradients)
//   "decomposer"  DecomposerTool — MLP read/write bases, the finest residual decomposition
//   "logit"       LogitTool      — direct logit attribution, a token through the layers
// and "logit_lens" gains the seeds' layer_attributions and logit_lens.
#include <torch/types.h>

#include <span>
#include <string>

#include "arrakis/analysis/activation_patching.hpp"
#include "arrakis/analysis/direct_logit_attribution.hpp"
#include "arrakis/analysis/head_detectors.hpp"
#include "arrakis/analysis/hypothesis_tests.hpp"
#include "arrakis/analysis/logit_lens.hpp"
#include "arrakis/experiments/model_profiler.hpp"
#include "arrakis/hooks/activation_cache.hpp"
#include "arrakis/tools/attention_tool.hpp"
#include "arrakis/tools/causal_tool.hpp"
#include "arrakis/tools/composer_tool.hpp"
#include "arrakis/tools/decomposer_tool.hpp"
#include "arrakis/tools/kg_extractor_tool.hpp"
#include "arrakis/tools/knowledge_tool.hpp"
#include "arrakis/tools/logit_tool.hpp"
#include "arrakis/tools/residual_tool.hpp"
#include "arrakis/tools/sparsity_tool.hpp"
#include "arrakis/tools/superposition_tool.hpp"
#include "arrakis/tools/tool_registry.hpp"
#include "arrakis/tools/write_read_tool.hpp"

namespace arrakis {

class ActivationTool : public BaseInterpretabilityTool {
 public:
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  static ToolDescription describe() { return {"run the model and cache the activations a filter selects", {}}; }
  std::string description() const override { return describe().description; }
  std::pair<torch::Tensor, ActivationCache> run(const torch::Tensor& tokens, const NameFilter& names = {});
};

class ProfilerTool : public BaseInterpretabilityTool {
 public:
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  static ToolDescription describe() { return {"wall time and memory per component, per layer and in total", {}}; }
  std::string description() const override { return describe().description; }
  ModelProfile profile(const torch::Tensor& tokens, const ProfileOptions& options = {});
};

class StatisticsTool : public BaseInterpretabilityTool {
 public:
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  static ToolDescription describe() {
    return {"permutation tests, t-tests, bootstrap intervals and effect sizes on metrics", {}};
  }
  std::string description() const override { return describe().description; }
  HypothesisReport test(std::span<const double> x, std::span<const double> y, const HypothesisOptions& options = {});
};

class HeadDetectorTool : public BaseInterpretabilityTool {
 public:
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  static ToolDescription describe() {
    return {"previous-token, duplicate-token and induction scores of every head on repeating sequences", {}};
  }
  std::string description() const override { return describe().description; }
  HeadScores scores(const torch::Tensor& tokens, int64_t period, int64_t offset = 0) {
    return head_scores(model(), tokens, {.period = period, .offset = offset});
  }
};

class LogitLensTool : public BaseInterpretabilityTool {
 public:
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  static ToolDescription describe() {
    return {"the residual stream after each layer, decoded to the vocabulary",
            {method<&LogitLensTool::layer_attributions>(), method<&LogitLensTool::logit_lens>()}};
  }
  std::string description() const override { return describe().description; }
  LogitLens run(const torch::Tensor& tokens, const LogitLensOptions& options = {}) {
    return run_logit_lens(model(), tokens, options);
  }
  /// The seeds' methods (docs/tools.md).
  LayerAttributions layer_attributions(const LayerAttributionsArgs& args) {
    note_call(args);
    return arrakis::layer_attributions(model(), args);
  }
  LogitLensAt logit_lens(const LogitLensAtArgs& args) {
    note_call(args);
    return logit_lens_at(model(), args);
  }
};

class LogitAttributionTool : public BaseInterpretabilityTool {
 public:
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  static ToolDescription describe() { return {"direct logit attribution of each component (and head)", {}}; }
  std::string description() const override { return describe().description; }
  LogitAttribution run(const torch::Tensor& tokens, const LogitAttributionOptions& options) {
    return run_direct_logit_attribution(model(), tokens, options);
  }
};

class ActivationPatchingTool : public BaseInterpretabilityTool {
 public:
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  static ToolDescription describe() { return {"activation patching sweeps from a clean into a corrupted run", {}}; }
  std::string description() const override { return describe().description; }
  PatchingResult run(const PatchingRuns& runs, const Metric& metric, const ActivationPatchingOptions& options) {
    return activation_patching(model(), runs, metric, options);
  }
};

/// Registers the built-in tools (the bench does this in its constructor).
void register_builtin_tools(ToolRegistry& tools);

}  // namespace arrakis
