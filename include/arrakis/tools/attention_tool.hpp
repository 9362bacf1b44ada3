#pragma once
// The `attention` tool (the seeds' Attention Tools): a head's attention pattern, the tokens it attends to most, and
// every head's attention entropy. Definitions in docs/tools.md.
#include <torch/types.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "arrakis/hooks/hook_registry.hpp"
#include "arrakis/model/head.hpp"
#include "arrakis/tools/tool_registry.hpp"

namespace arrakis {

struct AttentionPatternsArgs {
  torch::Tensor tokens;
  int64_t layer = 0, head = 0;
  static constexpr std::string_view method = "attention_patterns";
  static constexpr std::string_view help = "one head's attention probabilities [batch, query, key]";
  static std::vector<ToolArgument<AttentionPatternsArgs>> arguments();
};

struct AttentionPatterns {
  Head head;
  torch::Tensor pattern;  // [batch, query, key], rows sum to 1
  nlohmann::json to_json() const;
  NamedTensors tensors() const { return {{"pattern", pattern}}; }
};

struct TopAttendedIdsArgs {
  torch::Tensor tokens;
  int64_t layer = 0, head = 0;
  int64_t num_tokens = 5;
  int64_t query = -1;  // the attending position (negative: from the end)
  static constexpr std::string_view method = "top_attended_ids";
  static constexpr std::string_view help = "the key positions a head attends to most from one query position";
  static std::vector<ToolArgument<TopAttendedIdsArgs>> arguments();
};

struct AttendedToken {
  int64_t position = 0, id = 0;
  std::string text;  // empty without a tokenizer
  double weight = 0;
};

struct TopAttendedIds {
  Head head;
  int64_t query = 0;                            // the position, counted from the start
  std::vector<std::vector<AttendedToken>> top;  // per sequence of the batch, largest weight first
  nlohmann::json to_json() const;
  NamedTensors tensors() const;  // positions, ids (int64) and weights [batch, k]
};

struct AttentionEntropyArgs {
  torch::Tensor tokens;
  static constexpr std::string_view method = "attention_entropy";
  static constexpr std::string_view help =
      "every head's attention entropy in nats, mean over the batch and query positions";
  static std::vector<ToolArgument<AttentionEntropyArgs>> arguments();
};

struct AttentionEntropy {
  torch::Tensor entropy;       // [n_layers, n_heads], nats
  torch::Tensor per_position;  // [n_layers, n_heads, query]: mean over the batch
  nlohmann::json to_json() const;
  NamedTensors tensors() const { return {{"entropy", entropy}, {"per_position", per_position}}; }
};

enum class AblationMethod { Zero, Mean, Resample };
template <>
struct EnumNames<AblationMethod> {
  static constexpr std::array names{std::pair{AblationMethod::Zero, "zero"}, std::pair{AblationMethod::Mean, "mean"},
                                    std::pair{AblationMethod::Resample, "resample"}};
};

struct AblateHeadArgs {
  int64_t layer = 0, head = 0;
  AblationMethod how = AblationMethod::Zero;
  std::optional<torch::Tensor> tokens;  // mean / resample: where the replacement comes from; any: the effect on them
  int64_t seed = 0;                     // resample: the shuffle
  static constexpr std::string_view method = "ablate_head";
  static constexpr std::string_view help =
      "ablate a head at hook_z (zero, its mean over the tokens, or resampled from another sequence) while the result "
      "lives; with tokens, the effect on their loss and last logits";
  static std::vector<ToolArgument<AblateHeadArgs>> arguments();
};

struct MergeHeadsArgs {
  int64_t layer = 0, head1 = 0, head2 = 1;
  double alpha = 0.5;
  std::optional<torch::Tensor> tokens;  // the effect on these
  static constexpr std::string_view method = "merge_heads";
  static constexpr std::string_view help =
      "both heads attend with alpha A1 + (1 - alpha) A2 while the result lives; with tokens, the effect on them";
  static std::vector<ToolArgument<MergeHeadsArgs>> arguments();
};

/// What an intervention on heads changed on the given tokens: their language-model loss and last-position logits.
struct InterventionEffect {
  double clean_loss = 0, loss = 0;
  torch::Tensor logit_change;  // [batch, d_vocab] at the last position
  nlohmann::json to_json() const;
};

/// A head intervention that holds while this object lives (the guard removes its hooks), as the seeds' context
/// managers did; `guard.remove()` ends it early, `guard.keep()` keeps it for the model's lifetime.
struct HeadIntervention {
  std::string description;  // "L1H2 zero-ablated at hook_z", ...
  HookGuard guard;
  std::optional<InterventionEffect> effect;  // with tokens
  torch::Tensor replacement;                 // mean ablation: the head's mean z [d_head]
  nlohmann::json to_json() const;
  NamedTensors tensors() const;
};

class AttentionTool : public BaseInterpretabilityTool {
 public:
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  static ToolDescription describe();
  std::string description() const override { return describe().description; }

  AttentionPatterns attention_patterns(const AttentionPatternsArgs& args);
  TopAttendedIds top_attended_ids(const TopAttendedIdsArgs& args);
  AttentionEntropy attention_entropy(const AttentionEntropyArgs& args);
  HeadIntervention ablate_head(const AblateHeadArgs& args);
  HeadIntervention merge_heads(const MergeHeadsArgs& args);
};

}  // namespace arrakis
