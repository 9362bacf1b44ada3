#pragma once
// The `residual` tool (the seeds' Residual Tools): what makes up the residual stream after a layer, how it moves
// between two layers, and which input positions a prediction is attributed to (gradient x input, integrated
// gradients). Definitions in docs/tools.md.
#include <torch/types.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "arrakis/tools/tool_registry.hpp"

namespace arrakis {

struct ResidualDecompositionArgs {
  torch::Tensor tokens;
  int64_t layer = 0;
  bool per_head = false;  // each head's z W_O and each layer's b_O instead of each attn_out
  static constexpr std::string_view method = "residual_decomposition";
  static constexpr std::string_view help =
      "the components of blocks.{layer}.hook_resid_post (embeddings, each attention and MLP output), their norms and "
      "shares";
  static std::vector<ToolArgument<ResidualDecompositionArgs>> arguments();
};

struct ResidualComponents {
  std::vector<std::string> labels;
  torch::Tensor components;        // [n, batch, pos, d_model]
  torch::Tensor residual;          // [batch, pos, d_model]: what they sum to
  torch::Tensor norms;             // [n, batch, pos]
  torch::Tensor shares;            // [n, batch, pos]: c·r / ‖r‖² (they sum to 1 at every position)
  nlohmann::json to_json() const;  // labels with their mean norm and share
  NamedTensors tensors() const;
};

struct ResidualMovementArgs {
  torch::Tensor tokens;
  int64_t layer1 = -1;  // -1: blocks.0.hook_resid_pre
  int64_t layer2 = 0;
  static constexpr std::string_view method = "residual_movement";
  static constexpr std::string_view help =
      "from resid_post of layer1 (-1: the embeddings) to resid_post of layer2: relative change, cosine, and what each "
      "attention and MLP layer in between wrote";
  static std::vector<ToolArgument<ResidualMovementArgs>> arguments();
};

struct ResidualMovement {
  int64_t layer1 = 0, layer2 = 0;
  torch::Tensor relative_change;    // [batch, pos]: ‖x2 - x1‖ / ‖x1‖
  torch::Tensor cosine;             // [batch, pos]: cos(x1, x2)
  std::vector<std::string> labels;  // "L_attn_out", "L_mlp_out" for the layers in (layer1, layer2]
  torch::Tensor parts;              // [n, batch, pos, d_model]: they sum to x2 - x1
  torch::Tensor delta;              // [batch, pos, d_model]
  nlohmann::json to_json() const;
  NamedTensors tensors() const;
};

enum class AttributionMethod { IntegratedGradients, GradientXInput };
template <>
struct EnumNames<AttributionMethod> {
  static constexpr std::array names{std::pair{AttributionMethod::IntegratedGradients, "integrated_gradients"},
                                    std::pair{AttributionMethod::GradientXInput, "gradient_x_input"}};
};

/// Where integrated gradients' path starts: all-zero input embeddings, or the embedding of one token at every
/// position (positional embeddings kept: the path then moves the token embeddings only).
struct AttributionBaseline {
  std::optional<int64_t> token;  // none: zero
};
template <>
struct ArgumentType<AttributionBaseline> {
  static std::string name() { return "zero|token:ID"; }
  static AttributionBaseline parse(std::string_view text);
  static nlohmann::json to_json(const AttributionBaseline& b) {
    return b.token ? nlohmann::json("token:" + std::to_string(*b.token)) : nlohmann::json("zero");
  }
};

struct FeatureAttributionArgs {
  torch::Tensor tokens;
  std::optional<int64_t> target;      // the token whose logit is attributed...
  std::optional<std::string> metric;  // ...or this metric (logit-diff:A,B | logprob:T | loss | kl), per prompt
  AttributionMethod method_used = AttributionMethod::IntegratedGradients;
  int64_t steps = 32;
  AttributionBaseline baseline;
  int64_t position = -1;  // where the logit is read
  static constexpr std::string_view method = "feature_attribution";
  static constexpr std::string_view help =
      "the target's logit (or a metric) attributed to each input position: integrated gradients or gradient x (input - "
      "baseline) "
      "over the input embeddings";
  static std::vector<ToolArgument<FeatureAttributionArgs>> arguments();
};

struct FeatureAttribution {
  AttributionMethod method = AttributionMethod::IntegratedGradients;
  std::optional<int64_t> target;
  std::string metric;  // when a metric was attributed
  int64_t position = 0, steps = 0;
  torch::Tensor attributions;           // [batch, pos]
  torch::Tensor logit, baseline_logit;  // [batch]: f(x) and f(baseline)
  nlohmann::json to_json() const;
  NamedTensors tensors() const;
};

class ResidualTool : public BaseInterpretabilityTool {
 public:
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  static ToolDescription describe();
  std::string description() const override { return describe().description; }

  ResidualComponents residual_decomposition(const ResidualDecompositionArgs& args);
  ResidualMovement residual_movement(const ResidualMovementArgs& args);
  FeatureAttribution feature_attribution(const FeatureAttributionArgs& args);
};

}  // namespace arrakis
