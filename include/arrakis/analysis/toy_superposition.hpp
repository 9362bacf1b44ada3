#pragma once
// Toy models of superposition ("Toy Models of Superposition", Elhage et al. 2022,
// transformer-circuits.pub/2022/toy_model): n sparse features squeezed through m < n hidden dimensions and read back
// with a ReLU. Dense features get the m most important ones, each with a dimension of its own; sparse features get
// more than m, sharing dimensions in superposition. Definitions in docs/analysis.md.
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>

#include "arrakis/io/safetensors.hpp"

namespace arrakis {

struct ToySuperpositionOptions {
  int64_t n_features = 20, n_hidden = 5;  // n and m
  double feature_probability = 1.0;       // 1 − S: each feature is nonzero (uniform in [0, 1]) with this probability
  double importance_decay = 0.7;          // feature i's importance is decay^i
  int64_t steps = 5000, batch = 1024;
  double learning_rate = 5e-3;  // AdamW's peak, decayed along a cosine to 0 over the steps
  double weight_decay = 1e-2;   // AdamW's (PyTorch's default, as the paper's code)
  uint64_t seed = 0;
  std::function<void(int64_t step, double loss)> progress;  // called every 100 steps and after the last
};

/// x' = ReLU(Wᵀ W x + b), one sample per row of x.
struct ToySuperpositionModel {
  torch::Tensor W;  // [m, n] float32: column i is feature i's direction in the hidden space
  torch::Tensor b;  // [n] float32
  torch::Tensor forward(const torch::Tensor& x) const;  // x [batch, n] -> [batch, n]
};

struct ToySuperpositionReport {
  ToySuperpositionModel model;
  double loss = 0;                   // Σ_i I_i (x_i − x'_i)², mean over a fresh batch drawn after training
  torch::Tensor feature_norms;       // [n] float64: ‖W_i‖
  torch::Tensor superposition;       // [n] float64: Σ_{j≠i} (Ŵ_i·W_j)², 0 = W_i orthogonal to every other feature
  int64_t features_represented = 0;  // features with ‖W_i‖ > 0.5
  double dimensions_per_feature = 0;     // D* = m / ‖W‖_F²: 1 = a dimension per feature, < 1 = superposition
  torch::Tensor feature_dimensionality;  // [n] float64: D_i = ‖W_i‖² / Σ_j (Ŵ_i·W_j)² (0 where W_i = 0)
  nlohmann::json to_json() const;
  NamedTensors tensors() const;  // W, b, feature_norms, superposition, feature_dimensionality
};

/// Trains one toy model from `options.seed` (deterministic for a given seed; one intra-op thread while it trains,
/// restored after) and measures its superposition. Bad options are an arrakis::Error naming the field.
ToySuperpositionReport train_toy_superposition_model(const ToySuperpositionOptions& options);

/// The measurements of a report for a given model (`loss` left 0): a pentagon of 5 unit features in 2 dimensions,
/// for instance, has D* = 2/5 and D_i = 2/5.
ToySuperpositionReport measure_toy_superposition(const ToySuperpositionModel& model);

}  // namespace arrakis
