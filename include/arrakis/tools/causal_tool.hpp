#pragma once
// The `causal` tool (the seeds' Causal Tracing Intervention): ROME's causal tracing (Meng et al. 2022, "Locating and
// Editing Factual Associations in GPT") and interventions on single MLP neurons. Definitions in docs/tools.md.
#include <torch/types.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "arrakis/tools/tool_registry.hpp"

namespace arrakis {

/// What a causal trace restores: the residual stream after a layer, or a window of MLP or attention outputs.
enum class TraceKind { Resid, Mlp, Attn };
template <>
struct EnumNames<TraceKind> {
  static constexpr std::array names{std::pair{TraceKind::Resid, "resid"}, std::pair{TraceKind::Mlp, "mlp"},
                                    std::pair{TraceKind::Attn, "attn"}};
};

/// The corruption of the subject's embeddings: a scale of the standard deviation of W_E's entries (Gaussian noise
/// drawn from the seed), or the noise itself [samples, subject length, d_model] (deterministic, comparable across
/// implementations). On the shell: a number, or a .safetensors file holding a tensor named `noise`.
struct TraceNoise {
  double scale = 3.0;
  torch::Tensor values;  // defined: these values, not a scale
};
template <>
struct ArgumentType<TraceNoise> {
  static std::string name() { return "scale|FILE.safetensors"; }
  static TraceNoise parse(std::string_view text);
  static nlohmann::json to_json(const TraceNoise& noise);
};

struct TraceTokenProbabilityArgs {
  torch::Tensor tokens;          // one prompt [pos] or [1, pos]
  int64_t target = 0;            // the token whose probability at the last position is traced
  std::vector<int64_t> subject;  // [start, end): the positions whose embeddings are corrupted
  TraceKind kind = TraceKind::Resid;
  TraceNoise noise;
  int64_t samples = 10;  // noise samples (ignored when noise values are given: their first dimension)
  int64_t window = 10;   // mlp / attn: restore layers L - window/2 ... L + window/2 - 1
  int64_t seed = 0;
  static constexpr std::string_view method = "trace_token_probability";
  static constexpr std::string_view help =
      "ROME's causal tracing: the target's probability when one layer and position is restored into a run whose "
      "subject embeddings are corrupted by noise";
  static std::vector<ToolArgument<TraceTokenProbabilityArgs>> arguments();
};

struct CausalTrace {
  TraceKind kind = TraceKind::Resid;
  int64_t target = 0, subject_start = 0, subject_end = 0, window = 0;
  double noise_std = 0;  // of the Gaussian noise (when drawn from a scale)
  double clean_probability = 0;
  double corrupted_probability = 0;  // mean over samples
  torch::Tensor scores;              // [n_layers, pos]: probability with (layer, position) restored, mean over samples
  torch::Tensor indirect_effect;     // scores - corrupted_probability
  torch::Tensor noise;               // [samples, subject length, d_model]: the noise used
  nlohmann::json to_json() const;
  NamedTensors tensors() const { return {{"scores", scores}, {"indirect_effect", indirect_effect}, {"noise", noise}}; }
  /// ROME's grid: the indirect effect per layer (rows) and token (columns), the subject's tokens marked.
  std::vector<Figure> figures(const std::vector<std::string>& tokens) const;
};

struct InterveneOnNeuronArgs {
  torch::Tensor tokens;
  int64_t layer = 0, neuron = 0;
  double scale = 0.0;                 // hook_post[..., neuron] is multiplied by this (0: ablation)
  std::vector<int64_t> positions;     // empty: every position
  std::optional<int64_t> target;      // also report this token's logit and probability change
  std::optional<std::string> metric;  // also report this metric's change (logit-diff:A,B | logprob:T | loss | kl)
  int64_t top_k = 10;
  static constexpr std::string_view method = "intervene_on_neuron";
  static constexpr std::string_view help =
      "multiply one MLP neuron's activation by a scale; the change of the logits at the last position";
  static std::vector<ToolArgument<InterveneOnNeuronArgs>> arguments();
};

struct NeuronIntervention {
  int64_t layer = 0, neuron = 0;
  double scale = 0;
  torch::Tensor clean_logits;                  // [batch, d_vocab] at the last position
  torch::Tensor logits;                        // the same with the neuron scaled
  torch::Tensor change;                        // logits - clean_logits
  torch::Tensor top_increased, top_decreased;  // int64 [batch, k]: tokens whose logit rose / fell most
  std::optional<int64_t> target;
  torch::Tensor target_logit_change, target_probability_change;  // [batch] with a target
  std::string metric;
  torch::Tensor clean_metric, metric_value;  // [batch] with a metric: before and with the intervention
  nlohmann::json to_json() const;
  NamedTensors tensors() const;
};

class CausalTool : public BaseInterpretabilityTool {
 public:
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  static ToolDescription describe();
  std::string description() const override { return describe().description; }

  CausalTrace trace_token_probability(const TraceTokenProbabilityArgs& args);
  NeuronIntervention intervene_on_neuron(const InterveneOnNeuronArgs& args);
};

}  // namespace arrakis
