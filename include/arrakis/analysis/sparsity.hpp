#pragma once
// How sparsely the units of a hook point fire, over an activation dataset: per unit (neuron, SAE feature, residual
// dimension), per token and overall; the top activating contexts of each unit (a feature dashboard's data) with a
// polysemanticity score; and pruning rarely firing MLP neurons under a guard. Definitions: docs/representations.md.
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "arrakis/analysis/activation_dataset.hpp"
#include "arrakis/hooks/hook_registry.hpp"
#include "arrakis/io/safetensors.hpp"

namespace arrakis {

class HookedTransformer;

/// When a unit counts as firing: a > ε (points after a ReLU-like activation: MLP hook_post, SAE features), or |a| > ε
/// (signed points: the residual stream, attention outputs). Auto picks by the hook point's name.
enum class FiringRule { Auto, Positive, Magnitude };
std::string firing_rule_name(FiringRule rule);  // "auto", "positive", "magnitude"
/// Auto resolved: Positive for names ending in mlp.hook_post or hook_sae_acts_post (and hook_sae_acts_pre's ReLU
/// siblings), Magnitude otherwise.
FiringRule firing_rule_for(const std::string& hook, FiringRule rule);

struct SparsityOptions {
  FiringRule rule = FiringRule::Auto;
  double epsilon = 0.0;         // the firing threshold ε (>= 0)
  double dense_fraction = 0.5;  // a unit firing on more than this fraction of tokens is dense
  int64_t batch_rows = 8192;
};

struct SparsityStatistics {
  std::string hook;
  FiringRule rule = FiringRule::Positive;
  double epsilon = 0;
  int64_t n_tokens = 0, n_units = 0;
  torch::Tensor firing_frequency;  // [units]: fraction of tokens on which the unit fires
  torch::Tensor mean_activation;   // [units]
  torch::Tensor max_activation;    // [units]
  torch::Tensor l0;                // [tokens]: how many units fire on each token
  double mean_l0 = 0;
  double fraction_zero = 0;          // of all activations, the exactly-zero ones
  std::vector<int64_t> dead_units;   // never fire
  std::vector<int64_t> dense_units;  // fire on more than dense_fraction of tokens
  double hoyer = 0;  // mean over tokens of (√n − ‖a‖₁/‖a‖₂) / (√n − 1) (Hoyer 2004); 1 = one unit, 0 = all equal
  double gini = 0;                 // mean over tokens of the Gini coefficient of |a| (Hurley & Rickard 2009)
  torch::Tensor histogram_edges;   // [bins + 1]: log10 firing frequency
  torch::Tensor histogram_counts;  // [bins]: live units per bin (dead units are counted in dead_units)
  nlohmann::json to_json() const;
  NamedTensors tensors() const;
};

SparsityStatistics activation_sparsity(const ActivationDataset& data, const SparsityOptions& options = {});

/// One of a unit's top activations, in context.
struct ActivatingContext {
  double activation = 0;
  int64_t row = 0, sequence = 0, position = 0, token = 0;
  std::string token_text;  // when the model has a tokenizer
  std::string context;     // the window of text around it, the token between [[ ]]
};

struct UnitContexts {
  int64_t unit = 0;
  double entropy = 0;  // of the token ids at its top activations, in nats
  std::vector<ActivatingContext> top;
};

struct PolysemanticityOptions {
  int64_t top_k = 20;     // top activations per unit
  int64_t window = 8;     // tokens of context each side
  int64_t n_listed = 20;  // the most polysemantic units listed with their contexts
  int64_t batch_rows = 8192;
};

/// Top-k activating contexts of every unit and the entropy of the tokens there: a unit whose top activations all sit
/// on one token has entropy 0; one spread over k different tokens has ln k.
struct PolysemanticUnits {
  std::string hook;
  int64_t top_k = 0;
  torch::Tensor top_values;                     // [units, k], descending
  torch::Tensor top_rows;                       // [units, k]: dataset rows
  torch::Tensor top_tokens;                     // [units, k]: token ids there
  torch::Tensor entropy;                        // [units], nats; NaN for units that never fire
  std::vector<UnitContexts> most_polysemantic;  // n_listed units, highest entropy first
  nlohmann::json to_json() const;
  NamedTensors tensors() const;
};

/// `model` (optional: null) spells tokens and windows as text.
PolysemanticUnits polysemantic_units(const ActivationDataset& data, const HookedTransformer* model,
                                     const PolysemanticityOptions& options = {});
/// The contexts of one unit's top rows (top_rows of polysemantic_units, or any rows).
UnitContexts unit_contexts(const ActivationDataset& data, const HookedTransformer* model, int64_t unit,
                           const torch::Tensor& values, const torch::Tensor& rows, int64_t window);

struct PruneOptions {
  double threshold = 0;  // neurons firing on fewer than this fraction of tokens are zero-ablated
  int64_t batch = 8;     // sequences per forward
};

/// MLP neurons pruned under a guard: while `guard` lives, the model's blocks.L.mlp.hook_post zero them; dropping or
/// remove()-ing the guard restores the model exactly (nothing is changed in place).
struct PrunedNetwork {
  double threshold = 0;
  std::vector<int64_t> pruned_per_layer;  // [n_layers]
  int64_t pruned = 0, total = 0;
  double loss_before = 0, loss_after = 0;  // mean next-token cross-entropy on the tokens
  torch::Tensor firing_frequency;          // [n_layers, d_mlp]
  HookGuard guard;
  nlohmann::json to_json() const;
  NamedTensors tensors() const { return {{"firing_frequency", firing_frequency}}; }
};

/// Firing frequencies of every MLP neuron (hook_post > 0) on `tokens` [n, pos], then the guard; arrakis::Error for a
/// model without MLPs.
PrunedNetwork prune_network(HookedTransformer& model, const torch::Tensor& tokens, const PruneOptions& options);

/// Mean next-token cross-entropy of the model on tokens [n, pos] (batches of `batch` sequences, hooks active).
double mean_next_token_loss(HookedTransformer& model, const torch::Tensor& tokens, int64_t batch = 8);

}  // namespace arrakis
