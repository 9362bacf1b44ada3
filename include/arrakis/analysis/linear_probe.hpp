#pragma once
// Linear probes: does a hook point's activation linearly encode a property of the input? An L2-regularised logistic
// (binary labels) or linear (real labels) model is fit on a seeded train split, its regularisation chosen on a
// validation split, and judged on a test split. A control task with the labels shuffled tells what the probe learns
// from the representation rather than memorising (Hewitt & Liang 2019, "Designing and Interpreting Probes with Control
// Tasks": selectivity = task accuracy − control accuracy). The probe's weight is a direction in activation space, so
// other tools (read heads, steering, logit attribution) can take it. Definitions: docs/representations.md.
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "arrakis/io/safetensors.hpp"

namespace arrakis {

class HookedTransformer;

enum class ProbeKind { Logistic, Linear };
std::string probe_kind_name(ProbeKind kind);  // "logistic", "linear"

struct ProbeOptions {
  ProbeKind kind = ProbeKind::Logistic;
  std::vector<double> l2_grid = {1e-4, 1e-3, 1e-2, 1e-1, 1.0};  // λ of λ‖w‖² on standardised features
  double train_fraction = 0.6, validation_fraction = 0.2;       // the rest is the test split
  uint64_t seed = 0;
  bool control = true;  // also fit the shuffled-label control
  int64_t max_iterations = 100;
};

struct LinearProbe {
  ProbeKind kind = ProbeKind::Logistic;
  double l2 = 0;         // the λ chosen on the validation split
  torch::Tensor weight;  // [d]: in the activations' own units (score = x·w + b)
  double bias = 0;
  torch::Tensor direction;  // [d]: weight / ‖weight‖
  int64_t n_train = 0, n_validation = 0, n_test = 0;
  // Logistic: accuracy; linear: R².
  double train_score = 0, validation_score = 0, test_score = 0;
  double test_auc = 0;            // logistic only (NaN when the test split holds one class)
  double majority_rate = 0;       // logistic: the test accuracy of always answering the commoner training label
  double control_test_score = 0;  // the same probe on shuffled labels
  double selectivity = 0;         // test_score − control_test_score
  /// Scores x·w + b of features [n, d] (logistic: the log-odds of label 1).
  torch::Tensor score(const torch::Tensor& features) const;
  nlohmann::json to_json() const;
  NamedTensors tensors() const { return {{"weight", weight}, {"direction", direction}}; }
};

/// Features [n, d] (any floating dtype), labels [n] (logistic: 0/1 integers or booleans; linear: numbers).
LinearProbe train_linear_probe(const torch::Tensor& features, const torch::Tensor& labels,
                               const ProbeOptions& options = {});

/// The area under the ROC curve of scores for binary labels (ties count one half).
double roc_auc(const torch::Tensor& scores, const torch::Tensor& labels);

struct LayerProbeOptions {
  std::string point = "resid_post";  // TransformerLens' short name of a per-layer point: resid_pre, resid_mid, ...
  std::vector<int64_t> positions;    // per example (negative: from the end); empty: the last position
  ProbeOptions probe;
};

struct LayerProbes {
  std::vector<std::string> hooks;
  std::vector<LinearProbe> probes;
  torch::Tensor test_score, control_test_score, selectivity;  // [n_layers]: the curve by layer
  int64_t best_layer = 0;                                     // highest test score
  nlohmann::json to_json() const;
  NamedTensors tensors() const;
};

/// One probe per layer on the activations at `point` of tokens [n, pos] at the chosen positions (one forward).
LayerProbes probe_every_layer(HookedTransformer& model, const torch::Tensor& tokens, const torch::Tensor& labels,
                              const LayerProbeOptions& options = {});

/// The activations [n, d] of `hook` at one position per example (negative: from the end; empty: the last).
torch::Tensor activations_at_positions(HookedTransformer& model, const torch::Tensor& tokens, const std::string& hook,
                                       const std::vector<int64_t>& positions);

}  // namespace arrakis
