#include "arrakis/tools/superposition_tool.hpp"

#include <fmt/format.h>

#include "arrakis/error.hpp"
#include "arrakis/model/hooked_transformer.hpp"
#include "tools/tool_inputs.hpp"

namespace arrakis {

using namespace tool_inputs;

namespace {

// The three arguments every method reading activations takes, then the method's own.
template <class A>
std::vector<ToolArgument<A>> superposition_arguments(std::vector<ToolArgument<A>> own) {
  std::vector<ToolArgument<A>> out = {
      argument("tokens", &A::tokens, "the activations on these tokens (or give dataset)"),
      argument("dataset", &A::dataset, "a stored activation dataset's folder (or give tokens)"),
      argument("hook", &A::hook, "the hook point (required with tokens)")};
  for (auto& a : own) out.push_back(std::move(a));
  return out;
}

}  // namespace

std::vector<ToolArgument<ComputeActivationCovariance>> ComputeActivationCovariance::arguments() {
  return superposition_arguments<ComputeActivationCovariance>({});
}

std::vector<ToolArgument<DisentangleSuperposition>> DisentangleSuperposition::arguments() {
  using A = DisentangleSuperposition;
  return superposition_arguments<A>({argument("n_concepts", &A::n_concepts, "how many principal directions")});
}

std::vector<ToolArgument<ProjectActivations>> ProjectActivations::arguments() {
  using A = ProjectActivations;
  return superposition_arguments<A>({argument("n_concepts", &A::n_concepts, "how many principal directions")});
}

std::vector<ToolArgument<ReconstructActivations>> ReconstructActivations::arguments() {
  using A = ReconstructActivations;
  return superposition_arguments<A>({argument("n_concepts", &A::n_concepts, "how many principal directions")});
}

std::vector<ToolArgument<InterpolateConcepts>> InterpolateConcepts::arguments() {
  using A = InterpolateConcepts;
  return superposition_arguments<A>({argument("concept_a", &A::concept_a, "the first principal direction's index"),
                                     argument("concept_b", &A::concept_b, "the second principal direction's index"),
                                     argument("steps", &A::steps, "vectors from a to b, both ends included")});
}

std::vector<ToolArgument<TrainSae>> TrainSae::arguments() {
  using A = TrainSae;
  return superposition_arguments<A>(
      {argument("architecture", &A::architecture, "relu (+ L1), topk or jumprelu (+ L0)"),
       argument("d_sae", &A::d_sae, "features (0: 4 x the activation's width)"),
       argument("k", &A::k, "topk: features kept per token"), argument("steps", &A::steps, "Adam steps"),
       argument("batch_size", &A::batch_size, "activation rows per step"),
       argument("learning_rate", &A::learning_rate, "Adam's learning rate"),
       argument("l1_coefficient", &A::l1_coefficient, "relu: the L1 penalty's weight"),
       argument("l0_coefficient", &A::l0_coefficient, "jumprelu: the L0 penalty's weight"),
       argument("seed", &A::seed, "initialisation and batches"),
       argument("out", &A::out, "save the SAE to this folder (SAELens layout)")});
}

std::vector<ToolArgument<EvaluateSae>> EvaluateSae::arguments() {
  using A = EvaluateSae;
  return {
      argument("sae", &A::sae, "the SAE's folder (SAELens layout: cfg.json, sae_weights.safetensors)", Need::Required),
      argument("tokens", &A::tokens, "evaluate on these tokens (or give dataset)"),
      argument("dataset", &A::dataset, "a stored activation dataset of the SAE's hook point")};
}

std::vector<ToolArgument<SaeFeatures>> SaeFeatures::arguments() {
  using A = SaeFeatures;
  return {argument("sae", &A::sae, "the SAE's folder (SAELens layout)", Need::Required),
          argument("tokens", &A::tokens, "the features on these tokens (or give dataset)"),
          argument("dataset", &A::dataset, "a stored activation dataset of the SAE's hook point"),
          argument("top_k", &A::top_k, "top activations per feature"),
          argument("window", &A::window, "tokens of context each side"),
          argument("n_listed", &A::n_listed, "how many of the most polysemantic features are listed")};
}

ToolDescription SuperpositionTool::describe() {
  return {
      "the activation covariance and its principal directions (project, reconstruct, interpolate), and sparse "
      "autoencoders: train, evaluate, list their features",
      {method<&SuperpositionTool::compute_activation_covariance>(),
       method<&SuperpositionTool::disentangle_superposition>(), method<&SuperpositionTool::project_activations>(),
       method<&SuperpositionTool::reconstruct_activations>(), method<&SuperpositionTool::interpolate_concepts>(),
       method<&SuperpositionTool::train_sae>(), method<&SuperpositionTool::evaluate_sae>(),
       method<&SuperpositionTool::sae_features>()}};
}

// ---- results -------------------------------------------------------------------------------------------------------

NamedTensors ActivationProjection::tensors() const {
  auto out = pca.tensors();
  out.emplace_back("coefficients", coefficients);
  return out;
}

nlohmann::json ActivationReconstruction::to_json() const {
  return {{"hook", hook}, {"n_concepts", n_concepts}, {"mse", mse}, {"explained_variance", explained_variance}};
}

nlohmann::json ConceptInterpolation::to_json() const {
  return {{"concept_a", concept_a}, {"concept_b", concept_b}, {"steps", vectors.size(0)}};
}

nlohmann::json TrainedSae::to_json() const {
  return {{"training", training.to_json()}, {"evaluation", evaluation.to_json()}, {"saved_to", saved_to}};
}

NamedTensors TrainedSae::tensors() const {
  auto out = training.sae.tensors();
  out.emplace_back("feature_frequency", evaluation.feature_frequency);
  return out;
}

ActivationDataset sae_feature_dataset(const SparseAutoencoder& sae, const ActivationDataset& data, int64_t max_bytes) {
  const auto& c = sae.config();
  if (data.d() != c.d_in)
    throw Error(fmt::format("the dataset's rows have {} values; the SAE reads d_in {}", data.d(), c.d_in));
  if (data.n_rows() * c.d_sae * 4 > max_bytes)
    throw Error(fmt::format("{} rows x {} features take more than {:.0f} MiB: use fewer tokens", data.n_rows(), c.d_sae,
                            max_bytes / 1048576.0));
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  data.for_each_batch(4096, [&](const torch::Tensor& x, int64_t) { parts.push_back(sae.encode(x)); });
  return activations_in_memory(SaeHookNames::of(c.hook_name).acts_post, torch::cat(parts, 0), data.tokens(),
                               data.model_name());
}

// ---- methods ------------------------------------------------------------------------------------------------------

ActivationCovariance SuperpositionTool::compute_activation_covariance(const ComputeActivationCovariance& args) {
  note_call(args);
  return activation_covariance(
      activation_data(model(), args.tokens, args.dataset, args.hook, ComputeActivationCovariance::method));
}

PrincipalComponents SuperpositionTool::disentangle_superposition(const DisentangleSuperposition& args) {
  note_call(args);
  const auto data = activation_data(model(), args.tokens, args.dataset, args.hook, DisentangleSuperposition::method);
  return principal_components(activation_covariance(data), args.n_concepts);
}

ActivationProjection SuperpositionTool::project_activations(const ProjectActivations& args) {
  note_call(args);
  const auto data = activation_data(model(), args.tokens, args.dataset, args.hook, ProjectActivations::method);
  ActivationProjection out{data.hook(), principal_components(activation_covariance(data), args.n_concepts), {}};
  out.coefficients = out.pca.project(data.all());
  return out;
}

ActivationReconstruction SuperpositionTool::reconstruct_activations(const ReconstructActivations& args) {
  note_call(args);
  const auto data = activation_data(model(), args.tokens, args.dataset, args.hook, ReconstructActivations::method);
  const auto cov = activation_covariance(data);
  const auto pca = principal_components(cov, args.n_concepts);
  const auto x = data.all().to(torch::kFloat64);
  ActivationReconstruction out{data.hook(), args.n_concepts, pca.reconstruct(pca.project(x)), 0, 0};
  const double squared_error = (out.reconstruction - x).pow(2).sum().item<double>();
  out.mse = squared_error / static_cast<double>(x.size(0));
  const double total = (x - cov.mean).pow(2).sum().item<double>();
  out.explained_variance = total > 0 ? 1 - squared_error / total : std::nan("");
  return out;
}

ConceptInterpolation SuperpositionTool::interpolate_concepts(const InterpolateConcepts& args) {
  note_call(args);
  const auto data = activation_data(model(), args.tokens, args.dataset, args.hook, InterpolateConcepts::method);
  const int64_t n = std::max(args.concept_a, args.concept_b) + 1;
  const auto pca = principal_components(activation_covariance(data), std::clamp<int64_t>(n, 1, data.d()));
  return {args.concept_a, args.concept_b, interpolate_components(pca, args.concept_a, args.concept_b, args.steps)};
}

TrainedSae SuperpositionTool::train_sae(const TrainSae& args) {
  note_call(args);
  if (args.seed < 0) throw Error(fmt::format("train_sae: seed {} is negative", args.seed));
  const auto data = activation_data(model(), args.tokens, args.dataset, args.hook, TrainSae::method);
  TrainedSae out;
  out.training = train_sparse_autoencoder(data, {.architecture = args.architecture,
                                                 .d_sae = args.d_sae,
                                                 .k = args.k,
                                                 .l1_coefficient = args.l1_coefficient,
                                                 .l0_coefficient = args.l0_coefficient,
                                                 .steps = args.steps,
                                                 .batch_size = args.batch_size,
                                                 .learning_rate = args.learning_rate,
                                                 .seed = static_cast<uint64_t>(args.seed),
                                                 .model_name = model().config().model_name});
  out.evaluation = evaluate_sparse_autoencoder(out.training.sae, data, &model());
  if (!args.out.empty()) {
    out.training.sae.save(args.out);
    out.saved_to = args.out;
  }
  return out;
}

SaeEvaluation SuperpositionTool::evaluate_sae(const EvaluateSae& args) {
  note_call(args);
  const auto sae = SparseAutoencoder::load(args.sae);
  const auto data = activation_data(model(), args.tokens, args.dataset, sae.config().hook_name, EvaluateSae::method);
  return evaluate_sparse_autoencoder(sae, data, &model());
}

PolysemanticUnits SuperpositionTool::sae_features(const SaeFeatures& args) {
  note_call(args);
  const auto sae = SparseAutoencoder::load(args.sae);
  const auto data = activation_data(model(), args.tokens, args.dataset, sae.config().hook_name, SaeFeatures::method);
  return polysemantic_units(sae_feature_dataset(sae, data), &model(),
                            {.top_k = args.top_k, .window = args.window, .n_listed = args.n_listed});
}

}  // namespace arrakis
