#include "arrakis/analysis/activation_pca.hpp"

#include <fmt/format.h>

#include <cmath>

#include "arrakis/error.hpp"

namespace arrakis {

ActivationCovariance activation_covariance(const ActivationDataset& data) {
  const int64_t d = data.d();
  if (data.n_rows() < 2) throw Error("the covariance needs at least two tokens");
  auto sum = torch::zeros({d}, torch::kFloat64);
  auto outer = torch::zeros({d, d}, torch::kFloat64);
  data.for_each_batch(8192, [&](const torch::Tensor& x, int64_t) {
    const auto x64 = x.to(torch::kFloat64);
    sum += x64.sum(0);
    outer += torch::mm(x64.t(), x64);
  });
  ActivationCovariance out;
  out.hook = data.hook();
  out.n_tokens = data.n_rows();
  const double n = static_cast<double>(out.n_tokens);
  out.mean = sum / n;
  out.covariance = (outer - n * torch::outer(out.mean, out.mean)) / (n - 1);
  return out;
}

nlohmann::json ActivationCovariance::to_json() const {
  return {{"hook", hook},
          {"n_tokens", n_tokens},
          {"d", mean.defined() ? mean.numel() : 0},
          {"total_variance", covariance.defined() ? covariance.trace().item<double>() : 0.0}};
}

PrincipalComponents principal_components(const ActivationCovariance& covariance, int64_t n_components) {
  const auto& C = covariance.covariance;
  if (!C.defined() || C.dim() != 2 || C.size(0) != C.size(1))
    throw Error("principal_components: the covariance is not a square matrix");
  const int64_t d = C.size(0);
  if (n_components < 1 || n_components > d)
    throw Error(
        fmt::format("principal_components: n_concepts {} is not in 1..{} (the activation's width)", n_components, d));
  auto [eigenvalues, eigenvectors] = torch::linalg_eigh(C.to(torch::kFloat64));  // ascending
  auto order = torch::arange(d - 1, d - 1 - n_components, -1, torch::kInt64);
  PrincipalComponents out;
  out.hook = covariance.hook;
  out.mean = covariance.mean;
  out.variance = eigenvalues.index_select(0, order).clamp_min(0);
  auto components = eigenvectors.index_select(1, order).t().contiguous();  // [k, d]
  // eigh's signs are arbitrary: make each component's largest entry positive, so results repeat across libraries.
  auto largest = components.abs().argmax(1, true);
  auto signs = components.gather(1, largest).sign();
  out.components = components * torch::where(signs == 0, torch::ones_like(signs), signs);
  out.total_variance = eigenvalues.clamp_min(0).sum().item<double>();
  out.explained_variance_ratio =
      out.total_variance > 0 ? out.variance / out.total_variance : torch::zeros_like(out.variance);
  return out;
}

torch::Tensor PrincipalComponents::project(const torch::Tensor& x) const {
  if (x.size(-1) != mean.numel())
    throw Error(fmt::format("project: activations have {} values, the components {}", x.size(-1), mean.numel()));
  return torch::matmul(x.to(torch::kFloat64) - mean, components.t());
}

torch::Tensor PrincipalComponents::reconstruct(const torch::Tensor& coefficients) const {
  const int64_t k = coefficients.size(-1);
  if (k < 1 || k > components.size(0))
    throw Error(fmt::format("reconstruct: {} coefficients for {} components", k, components.size(0)));
  return torch::matmul(coefficients.to(torch::kFloat64), components.slice(0, 0, k)) + mean;
}

nlohmann::json PrincipalComponents::to_json() const {
  auto v = variance.contiguous(), r = explained_variance_ratio.contiguous();
  return {{"hook", hook},
          {"n_components", components.size(0)},
          {"total_variance", total_variance},
          {"variance", std::vector<double>(v.data_ptr<double>(), v.data_ptr<double>() + v.numel())},
          {"explained_variance_ratio", std::vector<double>(r.data_ptr<double>(), r.data_ptr<double>() + r.numel())},
          {"cumulative_explained_variance", r.sum().item<double>()}};
}

NamedTensors PrincipalComponents::tensors() const {
  return {{"mean", mean},
          {"components", components},
          {"variance", variance},
          {"explained_variance_ratio", explained_variance_ratio}};
}

torch::Tensor interpolate_components(const PrincipalComponents& pca, int64_t a, int64_t b, int64_t steps) {
  const int64_t k = pca.components.size(0);
  for (auto [name, i] : {std::pair{"concept_a", a}, std::pair{"concept_b", b}})
    if (i < 0 || i >= k) throw Error(fmt::format("interpolate_concepts: {} {} is not in 0..{}", name, i, k - 1));
  if (steps < 2) throw Error(fmt::format("interpolate_concepts: steps {} is below 2", steps));
  const auto va = pca.mean + pca.variance[a].sqrt() * pca.components[a];
  const auto vb = pca.mean + pca.variance[b].sqrt() * pca.components[b];
  const auto t = torch::linspace(0, 1, steps, torch::kFloat64).unsqueeze(1);
  return (1 - t) * va + t * vb;
}

}  // namespace arrakis
