#pragma once
// The seeds' linear-algebra view of superposition, done correctly: the covariance of a hook point's activations over
// tokens (features x features, centred), its principal components with explained variance, and projecting,
// reconstructing and interpolating with them. PCA finds orthogonal directions of variance, at most d of them; features
// in superposition outnumber the dimensions, which is why the real disentangler is a sparse autoencoder
// (sparse_autoencoder.hpp). Definitions: docs/representations.md.
#include <torch/types.h>

#include <cstdint>

#include <nlohmann/json.hpp>

#include "arrakis/analysis/activation_dataset.hpp"
#include "arrakis/io/safetensors.hpp"

namespace arrakis {

struct ActivationCovariance {
  std::string hook;
  int64_t n_tokens = 0;
  torch::Tensor mean;        // [d], float64
  torch::Tensor covariance;  // [d, d], float64: Σ (x − mean)(x − mean)ᵀ / (n − 1)
  nlohmann::json to_json() const;
  NamedTensors tensors() const { return {{"mean", mean}, {"covariance", covariance}}; }
};

/// In one pass over the dataset (sums in float64, centred at the end).
ActivationCovariance activation_covariance(const ActivationDataset& data);

struct PrincipalComponents {
  std::string hook;
  torch::Tensor mean;                      // [d]
  torch::Tensor components;                // [k, d]: unit rows, by decreasing variance; sign: largest entry positive
  torch::Tensor variance;                  // [k]: the eigenvalues
  torch::Tensor explained_variance_ratio;  // [k]: of the total variance
  double total_variance = 0;
  /// Coefficients [n, k] of activations [n, d] (centred first).
  torch::Tensor project(const torch::Tensor& x) const;
  /// Activations [n, d] from coefficients [n, k'] on the first k' components (mean added back).
  torch::Tensor reconstruct(const torch::Tensor& coefficients) const;
  nlohmann::json to_json() const;
  NamedTensors tensors() const;
};

/// The top n_components eigenvectors of the covariance (1 <= n_components <= d).
PrincipalComponents principal_components(const ActivationCovariance& covariance, int64_t n_components);

/// `steps` vectors on the straight line from component a to component b (both in activation units: mean + √λ·c), for
/// steering or reading along the way. [steps, d].
torch::Tensor interpolate_components(const PrincipalComponents& pca, int64_t a, int64_t b, int64_t steps);

}  // namespace arrakis
