#pragma once
// The `superposition` tool (the seeds' Superposition Disentangler): the seeds' linear algebra done correctly (the
// activation covariance over tokens, PCA with explained variance, projecting, reconstructing, interpolating) and the
// real disentangler, sparse autoencoders: train one on a hook point, evaluate it (reconstruction, sparsity, the
// language-model loss with it spliced in), and list its features' top activating contexts. Each method reads a stored
// activation dataset or the activations on the given tokens. Definitions in docs/representations.md.
#include <torch/types.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "arrakis/analysis/activation_pca.hpp"
#include "arrakis/analysis/sparse_autoencoder.hpp"
#include "arrakis/analysis/sparsity.hpp"
#include "arrakis/tools/tool_registry.hpp"

namespace arrakis {

template <>
struct EnumNames<SaeArchitecture> {
  static constexpr std::array names{std::pair{SaeArchitecture::ReLU, "relu"}, std::pair{SaeArchitecture::TopK, "topk"},
                                    std::pair{SaeArchitecture::JumpReLU, "jumprelu"}};
};

/// Where a method's activations come from (every method of this tool takes these three).
#define ARRAKIS_ACTIVATION_SOURCE_MEMBERS \
  std::optional<torch::Tensor> tokens;    \
  std::string dataset;                    \
  std::string hook

struct ComputeActivationCovariance {
  ARRAKIS_ACTIVATION_SOURCE_MEMBERS;
  static constexpr std::string_view method = "compute_activation_covariance";
  static constexpr std::string_view help = "the covariance of a hook point's activations over tokens (d x d, centred)";
  static std::vector<ToolArgument<ComputeActivationCovariance>> arguments();
};

struct DisentangleSuperposition {
  ARRAKIS_ACTIVATION_SOURCE_MEMBERS;
  int64_t n_concepts = 8;
  static constexpr std::string_view method = "disentangle_superposition";
  static constexpr std::string_view help =
      "PCA of the activation covariance: the top n_concepts directions with their explained variance";
  static std::vector<ToolArgument<DisentangleSuperposition>> arguments();
};

struct ProjectActivations {
  ARRAKIS_ACTIVATION_SOURCE_MEMBERS;
  int64_t n_concepts = 8;
  static constexpr std::string_view method = "project_activations";
  static constexpr std::string_view help = "each token's coordinates on the top n_concepts principal directions";
  static std::vector<ToolArgument<ProjectActivations>> arguments();
};

struct ReconstructActivations {
  ARRAKIS_ACTIVATION_SOURCE_MEMBERS;
  int64_t n_concepts = 8;
  static constexpr std::string_view method = "reconstruct_activations";
  static constexpr std::string_view help =
      "the activations rebuilt from the top n_concepts principal directions, and how much variance that keeps";
  static std::vector<ToolArgument<ReconstructActivations>> arguments();
};

struct InterpolateConcepts {
  ARRAKIS_ACTIVATION_SOURCE_MEMBERS;
  int64_t concept_a = 0, concept_b = 1;
  int64_t steps = 5;
  static constexpr std::string_view method = "interpolate_concepts";
  static constexpr std::string_view help =
      "vectors on the line from principal direction a to b (each as mean + sqrt(variance) x direction)";
  static std::vector<ToolArgument<InterpolateConcepts>> arguments();
};

struct TrainSae {
  ARRAKIS_ACTIVATION_SOURCE_MEMBERS;
  SaeArchitecture architecture = SaeArchitecture::TopK;
  int64_t d_sae = 0;
  int64_t k = 16;
  int64_t steps = 2000;
  int64_t batch_size = 1024;
  double learning_rate = 3e-3;
  double l1_coefficient = 1.0;
  double l0_coefficient = 0.2;
  int64_t seed = 0;
  std::string out;  // save the SAE here (SAELens layout)
  static constexpr std::string_view method = "train_sae";
  static constexpr std::string_view help =
      "train a sparse autoencoder (relu + L1, topk, jumprelu) on a hook point's activations and evaluate it";
  static std::vector<ToolArgument<TrainSae>> arguments();
};

struct EvaluateSae {
  std::string sae;  // a folder in SAELens' layout
  std::optional<torch::Tensor> tokens;
  std::string dataset;
  static constexpr std::string_view method = "evaluate_sae";
  static constexpr std::string_view help =
      "an SAE's reconstruction (MSE, explained variance), sparsity (L0, dead, dense) and the language-model loss "
      "recovered with it spliced in";
  static std::vector<ToolArgument<EvaluateSae>> arguments();
};

struct SaeFeatures {
  std::string sae;
  std::optional<torch::Tensor> tokens;
  std::string dataset;
  int64_t top_k = 20, window = 8, n_listed = 20;
  static constexpr std::string_view method = "sae_features";
  static constexpr std::string_view help = "every SAE feature's top activating contexts, firing frequency and entropy";
  static std::vector<ToolArgument<SaeFeatures>> arguments();
};

struct ActivationProjection {
  std::string hook;
  PrincipalComponents pca;
  torch::Tensor coefficients;  // [n_tokens, k]
  nlohmann::json to_json() const { return pca.to_json(); }
  NamedTensors tensors() const;
};

struct ActivationReconstruction {
  std::string hook;
  int64_t n_concepts = 0;
  torch::Tensor reconstruction;  // [n_tokens, d]
  double mse = 0, explained_variance = 0;
  nlohmann::json to_json() const;
  NamedTensors tensors() const { return {{"reconstruction", reconstruction}}; }
};

struct ConceptInterpolation {
  int64_t concept_a = 0, concept_b = 0;
  torch::Tensor vectors;  // [steps, d]
  nlohmann::json to_json() const;
  NamedTensors tensors() const { return {{"vectors", vectors}}; }
};

struct TrainedSae {
  SaeTrainingResult training;
  SaeEvaluation evaluation;
  std::string saved_to;
  nlohmann::json to_json() const;
  NamedTensors tensors() const;
};

class SuperpositionTool : public BaseInterpretabilityTool {
 public:
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  static ToolDescription describe();
  std::string description() const override { return describe().description; }

  ActivationCovariance compute_activation_covariance(const ComputeActivationCovariance& args);
  PrincipalComponents disentangle_superposition(const DisentangleSuperposition& args);
  ActivationProjection project_activations(const ProjectActivations& args);
  ActivationReconstruction reconstruct_activations(const ReconstructActivations& args);
  ConceptInterpolation interpolate_concepts(const InterpolateConcepts& args);
  TrainedSae train_sae(const TrainSae& args);
  SaeEvaluation evaluate_sae(const EvaluateSae& args);
  PolysemanticUnits sae_features(const SaeFeatures& args);
};

/// An SAE's features on a dataset of its hook point's activations, as a dataset of their own (hook
/// `<hook>.hook_sae_acts_post`), for the sparsity statistics and contexts; arrakis::Error past `max_bytes`.
ActivationDataset sae_feature_dataset(const SparseAutoencoder& sae, const ActivationDataset& data,
                                      int64_t max_bytes = int64_t{2} << 30);

}  // namespace arrakis
