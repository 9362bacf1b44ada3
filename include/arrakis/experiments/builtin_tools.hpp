#pragma once
// The tools every InterpretabilityBench registers under these names before a user adds their own:
//   "activations"  ActivationTool  — run the model and cache activations (run_with_cache)
//   "profiler"     ProfilerTool    — time and memory per component (profile_model)
//   "statistics"   StatisticsTool  — hypothesis tests on metrics (test_hypothesis)
//   "head_detector"        HeadDetectorTool        — previous-token / duplicate / induction scores (head_scores)
//   "logit_lens"           LogitLensTool           — the residual stream decoded after each layer (run_logit_lens)
//   "logit_attribution"    LogitAttributionTool    — direct logit attribution (run_direct_logit_attribution)
//   "activation_patching"  ActivationPatchingTool  — patching sweeps (activation_patching)
// Each wraps the analysis of the same name in src/analysis/ (docs/analysis.md) for the bench's model.
#include <torch/types.h>

#include <span>
#include <string>

#include "arrakis/analysis/activation_patching.hpp"
#include "arrakis/analysis/direct_logit_attribution.hpp"
#include "arrakis/analysis/head_detectors.hpp"
#include "arrakis/analysis/logit_lens.hpp"
#include "arrakis/experiments/hypothesis_tests.hpp"
#include "arrakis/experiments/model_profiler.hpp"
#include "arrakis/experiments/tool_registry.hpp"
#include "arrakis/hooks/activation_cache.hpp"

namespace arrakis {

class ActivationTool : public BaseInterpretabilityTool {
 public:
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  std::string description() const override { return "run the model and cache the activations a filter selects"; }
  std::pair<torch::Tensor, ActivationCache> run(const torch::Tensor& tokens, const NameFilter& names = {});
};

class ProfilerTool : public BaseInterpretabilityTool {
 public:
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  std::string description() const override { return "wall time and memory per component, per layer and in total"; }
  ModelProfile profile(const torch::Tensor& tokens, const ProfileOptions& options = {});
};

class StatisticsTool : public BaseInterpretabilityTool {
 public:
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  std::string description() const override {
    return "permutation tests, t-tests, bootstrap intervals and effect sizes on metrics";
  }
  HypothesisReport test(std::span<const double> x, std::span<const double> y, const HypothesisOptions& options = {});
};

class HeadDetectorTool : public BaseInterpretabilityTool {
 public:
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  std::string description() const override {
    return "previous-token, duplicate-token and induction scores of every head on repeating sequences";
  }
  HeadScores scores(const torch::Tensor& tokens, int64_t period, int64_t offset = 0) {
    return head_scores(model(), tokens, {.period = period, .offset = offset});
  }
};

class LogitLensTool : public BaseInterpretabilityTool {
 public:
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  std::string description() const override { return "the residual stream after each layer, decoded to the vocabulary"; }
  LogitLens run(const torch::Tensor& tokens, const LogitLensOptions& options = {}) {
    return run_logit_lens(model(), tokens, options);
  }
};

class LogitAttributionTool : public BaseInterpretabilityTool {
 public:
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  std::string description() const override { return "direct logit attribution of each component (and head)"; }
  LogitAttribution run(const torch::Tensor& tokens, const LogitAttributionOptions& options) {
    return run_direct_logit_attribution(model(), tokens, options);
  }
};

class ActivationPatchingTool : public BaseInterpretabilityTool {
 public:
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  std::string description() const override { return "activation patching sweeps from a clean into a corrupted run"; }
  PatchingResult run(const PatchingRuns& runs, const Metric& metric, const ActivationPatchingOptions& options) {
    return activation_patching(model(), runs, metric, options);
  }
};

/// Registers the built-in tools (the bench does this in its constructor).
void register_builtin_tools(ToolRegistry& tools);

}  // namespace arrakis
