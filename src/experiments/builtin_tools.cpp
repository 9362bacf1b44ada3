#include "arrakis/experiments/builtin_tools.hpp"

#include "arrakis/model/hooked_transformer.hpp"

namespace arrakis {

std::pair<torch::Tensor, ActivationCache> ActivationTool::run(const torch::Tensor& tokens, const NameFilter& names) {
  torch::NoGradGuard no_grad;
  return model().run_with_cache(tokens, names);
}

ModelProfile ProfilerTool::profile(const torch::Tensor& tokens, const ProfileOptions& options) {
  return profile_model(model(), tokens, options);
}

HypothesisReport StatisticsTool::test(std::span<const double> x, std::span<const double> y,
                                      const HypothesisOptions& options) {
  return test_hypothesis(x, y, options);
}

void register_builtin_tools(ToolRegistry& tools) {
  tools.add<ActivationTool>("activations");
  tools.add<ProfilerTool>("profiler");
  tools.add<StatisticsTool>("statistics");
  tools.add<HeadDetectorTool>("head_detector");
  tools.add<LogitLensTool>("logit_lens");
  tools.add<LogitAttributionTool>("logit_attribution");
  tools.add<ActivationPatchingTool>("activation_patching");
  tools.add<WriteReadTool>("write_read");
  tools.add<ComposerTool>("composer");
  tools.add<AttentionTool>("attention");
  tools.add<CausalTool>("causal");
  tools.add<ResidualTool>("residual");
  tools.add<DecomposerTool>("decomposer");
  tools.add<LogitTool>("logit");
  tools.add<SparsityTool>("sparsity");
  tools.add<SuperpositionTool>("superposition");
  tools.add<KnowledgeTool>("knowledge");
  tools.add<KnowledgeTool>("k_prober");  // the seeds' second key for the same tool
  tools.add<KgExtractorTool>("kg_extractor");
}

}  // namespace arrakis
