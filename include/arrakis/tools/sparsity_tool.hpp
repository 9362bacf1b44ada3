#pragma once
// The `sparsity` tool (the seeds' Sparsity Analyzer): how sparsely a hook point's units fire over many tokens, the
// top activating contexts and polysemanticity of each unit, and pruning rarely firing MLP neurons under a guard.
// Each method reads a stored activation dataset (`arrakis activations collect`) or the activations on the given
// tokens. Definitions in docs/representations.md.
#include <torch/types.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "arrakis/analysis/sparsity.hpp"
#include "arrakis/tools/tool_registry.hpp"

namespace arrakis {

template <>
struct EnumNames<FiringRule> {
  static constexpr std::array names{std::pair{FiringRule::Auto, "auto"}, std::pair{FiringRule::Positive, "positive"},
                                    std::pair{FiringRule::Magnitude, "magnitude"}};
};

struct ComputeActivationSparsity {
  std::optional<torch::Tensor> tokens;
  std::string dataset;  // a stored activation dataset's folder
  std::string hook;
  FiringRule rule = FiringRule::Auto;
  double epsilon = 0;
  double dense_fraction = 0.5;
  static constexpr std::string_view method = "compute_activation_sparsity";
  static constexpr std::string_view help =
      "per unit firing frequency, mean and max; per token L0; dead and dense units, Hoyer and Gini sparsity, a "
      "log-frequency histogram";
  static std::vector<ToolArgument<ComputeActivationSparsity>> arguments();
};

struct FindPolysemanticNeurons {
  std::string hook;
  std::optional<torch::Tensor> tokens;
  std::string dataset;
  int64_t top_k = 20;
  int64_t window = 8;
  int64_t n_listed = 20;
  static constexpr std::string_view method = "find_polysemantic_neurons";
  static constexpr std::string_view help =
      "every unit's top-k activating contexts and the entropy of the tokens there; the most polysemantic listed";
  static std::vector<ToolArgument<FindPolysemanticNeurons>> arguments();
};

struct PruneNetwork {
  double threshold = 0;
  std::optional<torch::Tensor> tokens;
  std::string dataset;  // its tokens are used
  std::string metric = "loss";
  static constexpr std::string_view method = "prune_network";
  static constexpr std::string_view help =
      "zero-ablate MLP neurons firing on fewer than `threshold` of the tokens, under a guard; the loss before and "
      "after";
  static std::vector<ToolArgument<PruneNetwork>> arguments();
};

class SparsityTool : public BaseInterpretabilityTool {
 public:
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  static ToolDescription describe();
  std::string description() const override { return describe().description; }

  SparsityStatistics compute_activation_sparsity(const ComputeActivationSparsity& args);
  PolysemanticUnits find_polysemantic_neurons(const FindPolysemanticNeurons& args);
  /// The pruned neurons stay ablated while the result's guard lives.
  PrunedNetwork prune_network(const PruneNetwork& args);
};

}  // namespace arrakis
