#pragma once
// The `knowledge` tool, also registered as `k_prober` (the seeds' Knowledge Prober): one neuron's (or SAE feature's)
// activation on true vs false statements with the bench's hypothesis test; linear probes on any hook point, at every
// layer in one call, with the shuffled-label control and its selectivity (Hewitt & Liang 2019); and the
// polysemanticity of MLP neurons as the diversity of the residual states they fire on. Definitions in
// docs/representations.md.
#include <torch/types.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "arrakis/analysis/hypothesis_tests.hpp"
#include "arrakis/analysis/linear_probe.hpp"
#include "arrakis/tools/tool_registry.hpp"

namespace arrakis {

template <>
struct EnumNames<ProbeKind> {
  static constexpr std::array names{std::pair{ProbeKind::Logistic, "logistic"}, std::pair{ProbeKind::Linear, "linear"}};
};

struct KnowledgeProbeArgs {
  torch::Tensor true_tokens, false_tokens;  // one statement per row
  int64_t neuron = 0;
  int64_t layer = 0;      // with no hook: blocks.{layer}.mlp.hook_post
  std::string hook;       // any per-token point, e.g. an SAE's hook_sae_acts_post
  int64_t position = -1;  // where the activation is read (negative: from the end)
  static constexpr std::string_view method = "knowledge_probe";
  static constexpr std::string_view help =
      "one unit's activation on true vs false statements, with a permutation test, Welch's t and a bootstrap interval";
  static std::vector<ToolArgument<KnowledgeProbeArgs>> arguments();
};

struct KnowledgeProbeResult {
  std::string hook;
  int64_t neuron = 0, position = 0;
  torch::Tensor true_activations, false_activations;  // [n_true], [n_false]
  HypothesisReport test;                              // true − false
  nlohmann::json to_json() const;
  NamedTensors tensors() const {
    return {{"true_activations", true_activations}, {"false_activations", false_activations}};
  }
};

struct TrainProbeArgs {
  torch::Tensor tokens;
  std::vector<int64_t> labels;  // one per sequence
  std::string hook;
  std::vector<int64_t> positions;  // one per sequence (negative: from the end); none: the last
  ProbeKind kind = ProbeKind::Logistic;
  int64_t seed = 0;
  bool control = true;
  static constexpr std::string_view method = "train_probe";
  static constexpr std::string_view help =
      "an L2-regularised logistic (or linear) probe on a hook point's activations: accuracy, AUC, the shuffled-label "
      "control, selectivity, and its direction";
  static std::vector<ToolArgument<TrainProbeArgs>> arguments();
};

struct ProbeOnHook {
  std::string hook;
  LinearProbe probe;
  nlohmann::json to_json() const {
    auto j = probe.to_json();
    j["hook"] = hook;
    return j;
  }
  NamedTensors tensors() const { return probe.tensors(); }
};

struct ProbeLayersArgs {
  torch::Tensor tokens;
  std::vector<int64_t> labels;
  std::string point = "resid_post";
  std::vector<int64_t> positions;
  ProbeKind kind = ProbeKind::Logistic;
  int64_t seed = 0;
  static constexpr std::string_view method = "probe_layers";
  static constexpr std::string_view help =
      "one probe per layer on a per-layer point (resid_post, ...): the accuracy-by-layer curve with the control";
  static std::vector<ToolArgument<ProbeLayersArgs>> arguments();
};

struct PolysemanticScoreArgs {
  int64_t layer = 0;
  std::optional<torch::Tensor> tokens;
  std::string dataset;  // its tokens are used
  int64_t k_neighbors = 50;
  static constexpr std::string_view method = "polysemantic_score";
  static constexpr std::string_view help =
      "for each MLP neuron of a layer, the mean cosine distance between the residual states at its k top activations";
  static std::vector<ToolArgument<PolysemanticScoreArgs>> arguments();
};

struct PolysemanticScores {
  int64_t layer = 0, k_neighbors = 0;
  std::string residual_hook;  // the residual stream the MLP reads
  torch::Tensor scores;       // [d_mlp]: mean pairwise cosine distance (0: one direction; ~1: unrelated contexts)
  std::vector<int64_t> most_polysemantic, least_polysemantic;  // 10 each
  nlohmann::json to_json() const;
  NamedTensors tensors() const { return {{"scores", scores}}; }
};

class KnowledgeTool : public BaseInterpretabilityTool {
 public:
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  static ToolDescription describe();
  std::string description() const override { return describe().description; }

  KnowledgeProbeResult knowledge_probe(const KnowledgeProbeArgs& args);
  ProbeOnHook train_probe(const TrainProbeArgs& args);
  LayerProbes probe_layers(const ProbeLayersArgs& args);
  PolysemanticScores polysemantic_score(const PolysemanticScoreArgs& args);
};

}  // namespace arrakis
