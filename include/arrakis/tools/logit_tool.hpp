#pragma once
// The `logit` tool (the seeds' Logit Attribution): direct logit attribution of a token's logit (or a logit
// difference) to embeddings, heads, MLP layers and neurons, and the token's course through the layers. The
// `logit_lens` tool's seed methods (layer_attributions, logit_lens) are declared here too. Definitions in
// docs/tools.md.
#include <torch/types.h>

#include <optional>
#include <string>
#include <vector>

#include "arrakis/tools/tool_registry.hpp"

namespace arrakis {

struct LogitAttributionArgs {
  torch::Tensor tokens;
  int64_t target = 0;
  std::optional<int64_t> wrong;  // attribute logit(target) - logit(wrong)
  int64_t position = -1;
  bool neurons = false;
  static constexpr std::string_view method = "logit_attribution";
  static constexpr std::string_view help =
      "direct logit attribution of the target's logit (or target - wrong) to embeddings, heads, MLP layers and "
      "neurons, through the final norm's cached scale";
  static std::vector<ToolArgument<LogitAttributionArgs>> arguments();
};

struct TokenLogitAttribution {
  int64_t target = 0;
  std::optional<int64_t> wrong;
  int64_t position = 0;
  std::vector<std::string> component_labels;
  torch::Tensor components;  // [components, batch]
  torch::Tensor heads;       // [n_layers, n_heads, batch]
  torch::Tensor neurons;     // [n_layers, d_mlp, batch] when asked for
  torch::Tensor bias;        // [batch]: what no component writes (ln_final's bias, b_U)
  torch::Tensor total;       // [batch]: components.sum(0) + bias
  nlohmann::json to_json() const;
  NamedTensors tensors() const;
};

struct TrackTokenCirculationArgs {
  torch::Tensor tokens;
  int64_t target = 0;
  std::optional<int64_t> n_layers;
  static constexpr std::string_view method = "track_token_circulation";
  static constexpr std::string_view help =
      "the target token at every layer boundary (logit-lens logit, probability, rank) and each layer's direct "
      "attention and MLP contribution, at the last position";
  static std::vector<ToolArgument<TrackTokenCirculationArgs>> arguments();
};

struct TokenCirculation {
  int64_t target = 0;
  std::vector<std::string> boundaries;                  // "0_pre", "1_pre", ..., "final_post"
  torch::Tensor logits, probabilities;                  // [boundaries, batch]
  torch::Tensor ranks;                                  // int64 [boundaries, batch]
  torch::Tensor attn_contributions, mlp_contributions;  // [n_layers, batch]: direct, to the target's logit
  nlohmann::json to_json() const;
  NamedTensors tensors() const;
};

struct LayerAttributionsArgs {
  torch::Tensor tokens;
  int64_t target = 0;
  static constexpr std::string_view method = "layer_attributions";
  static constexpr std::string_view help =
      "each layer's attention and MLP direct contribution to the target's logit at the last position";
  static std::vector<ToolArgument<LayerAttributionsArgs>> arguments();
};

struct LayerAttributions {
  int64_t target = 0;
  torch::Tensor attn, mlp;   // [n_layers, batch]
  torch::Tensor embeddings;  // [batch]: embed (+ pos_embed)
  nlohmann::json to_json() const;
  NamedTensors tensors() const { return {{"attn", attn}, {"mlp", mlp}, {"embeddings", embeddings}}; }
};

struct LogitLensAtArgs {
  torch::Tensor tokens;
  int64_t target = 0;
  int64_t layer = 0;  // the residual stream entering this layer (n_layers: the final one)
  int64_t top_k = 5;
  static constexpr std::string_view method = "logit_lens";
  static constexpr std::string_view help =
      "the target's probability and rank, and the top tokens, decoded from the residual stream entering a layer at "
      "the last position";
  static std::vector<ToolArgument<LogitLensAtArgs>> arguments();
};

struct LogitLensAt {
  int64_t target = 0, layer = 0;
  torch::Tensor probability;                        // [batch]
  torch::Tensor rank;                               // int64 [batch]
  torch::Tensor top_tokens;                         // int64 [batch, k]
  torch::Tensor top_probs;                          // [batch, k]
  std::vector<std::vector<std::string>> top_texts;  // with a tokenizer
  nlohmann::json to_json() const;
  NamedTensors tensors() const;
};

class LogitTool : public BaseInterpretabilityTool {
 public:
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  static ToolDescription describe();
  std::string description() const override { return describe().description; }

  TokenLogitAttribution logit_attribution(const LogitAttributionArgs& args);
  TokenCirculation track_token_circulation(const TrackTokenCirculationArgs& args);
};

/// The seeds' two logit-lens methods (the `logit_lens` tool, LogitLensTool, adds them to its run()).
LayerAttributions layer_attributions(HookedTransformer& model, const LayerAttributionsArgs& args);
LogitLensAt logit_lens_at(HookedTransformer& model, const LogitLensAtArgs& args);

}  // namespace arrakis
