#include "arrakis/analysis/toy_superposition.hpp"

#include <fmt/format.h>
#include <torch/optim/adamw.h>
#include <torch/utils.h>

#include <cmath>
#include <string>
#include <vector>

#include "arrakis/error.hpp"
#include "arrakis/util/seeded_generator.hpp"

namespace arrakis {

namespace {

void toy_check_options(const ToySuperpositionOptions& o) {
  auto fail = [](const char* field, const std::string& why) {
    throw Error(fmt::format("train_toy_superposition_model: {} {}", field, why));
  };
  if (o.n_features < 1) fail("n_features", fmt::format("must be at least 1, got {}", o.n_features));
  if (o.n_hidden < 1) fail("n_hidden", fmt::format("must be at least 1, got {}", o.n_hidden));
  // Each check is written as what a good value satisfies, so that NaN fails it too.
  if (!(o.feature_probability > 0 && o.feature_probability <= 1))
    fail("feature_probability", fmt::format("(1 - sparsity) must be in (0, 1], got {}", o.feature_probability));
  if (!(o.importance_decay > 0 && std::isfinite(o.importance_decay)))
    fail("importance_decay", fmt::format("must be positive and finite, got {}", o.importance_decay));
  if (o.steps < 1) fail("steps", fmt::format("must be at least 1, got {}", o.steps));
  if (o.batch < 1) fail("batch", fmt::format("must be at least 1, got {}", o.batch));
  if (!(o.learning_rate > 0 && std::isfinite(o.learning_rate)))
    fail("learning_rate", fmt::format("must be positive and finite, got {}", o.learning_rate));
  if (!(o.weight_decay >= 0 && std::isfinite(o.weight_decay)))
    fail("weight_decay", fmt::format("must be non-negative and finite, got {}", o.weight_decay));
}

// The paper's synthetic data: each feature is 0 with probability S, else uniform in [0, 1].
torch::Tensor toy_sample_features(int64_t batch, int64_t n, double probability, torch::Generator& generator) {
  auto values = torch::rand({batch, n}, generator, torch::kFloat32);
  auto present = torch::rand({batch, n}, generator, torch::kFloat32) < probability;
  return values * present;
}

// Σ_i I_i (x_i − x'_i)², mean over the batch.
torch::Tensor toy_weighted_loss(const torch::Tensor& x, const torch::Tensor& reconstructed,
                                const torch::Tensor& importance) {
  return ((x - reconstructed).pow(2) * importance).sum(-1).mean();
}

// One intra-op thread while training, restored however training ends: for a model this small that is faster than
// more, and the result does not depend on the machine's core count.
struct ToySingleThread {
  int previous = torch::get_num_threads();
  ToySingleThread() { torch::set_num_threads(1); }
  ~ToySingleThread() { torch::set_num_threads(previous); }
  ToySingleThread(const ToySingleThread&) = delete;
  ToySingleThread& operator=(const ToySingleThread&) = delete;
};

std::vector<double> toy_values(const torch::Tensor& t) {
  auto c = t.to(torch::kFloat64).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

}  // namespace

torch::Tensor ToySuperpositionModel::forward(const torch::Tensor& x) const {
  auto hidden = torch::matmul(x, W.t());             // [batch, m]
  return torch::relu(torch::matmul(hidden, W) + b);  // [batch, n]
}

ToySuperpositionReport measure_toy_superposition(const ToySuperpositionModel& model) {
  if (!model.W.defined() || model.W.dim() != 2)
    throw Error("measure_toy_superposition: W must be [n_hidden, n_features]");
  ToySuperpositionReport r;
  r.model = model;
  auto W = model.W.detach().to(torch::kFloat64);
  const int64_t m = W.size(0);
  auto norms = W.norm(2, 0);  // [n]
  // Ŵ_i = W_i / ‖W_i‖, and 0 for a feature with no weight at all (it interferes with nothing).
  auto safe = torch::where(norms > 0, norms, torch::ones_like(norms));
  auto unit = W / safe;
  auto overlaps = torch::matmul(unit.t(), W).pow(2);  // [n, n]: (Ŵ_i·W_j)²
  auto total = overlaps.sum(1);                       // Σ_j, the j = i term is ‖W_i‖²
  auto own = norms.pow(2);
  r.feature_norms = norms;
  r.superposition = (total - overlaps.diagonal()).clamp_min(0);
  r.feature_dimensionality =
      torch::where(total > 0, own / torch::where(total > 0, total, torch::ones_like(total)), torch::zeros_like(total));
  r.features_represented = (norms > 0.5).sum().item<int64_t>();
  const double frobenius = own.sum().item<double>();
  r.dimensions_per_feature = frobenius > 0 ? static_cast<double>(m) / frobenius : 0.0;
  return r;
}

ToySuperpositionReport train_toy_superposition_model(const ToySuperpositionOptions& options) {
  toy_check_options(options);
  const int64_t n = options.n_features, m = options.n_hidden;
  ToySingleThread single_thread;
  torch::AutoGradMode grad_enabled(true);  // the caller may hold a NoGradGuard
  auto generator = seeded_generator(options.seed);

  // Xavier normal as the paper's code: std = sqrt(2 / (n + m)); the bias starts at 0.
  auto W = (torch::randn({m, n}, generator, torch::kFloat32) * std::sqrt(2.0 / static_cast<double>(n + m)))
               .requires_grad_(true);
  auto b = torch::zeros({n}, torch::kFloat32).requires_grad_(true);
  auto importance = torch::pow(options.importance_decay, torch::arange(n, torch::kFloat64)).to(torch::kFloat32);
  ToySuperpositionModel model{W, b};

  torch::optim::AdamW optimizer(std::vector<torch::Tensor>{W, b},
                                torch::optim::AdamWOptions(options.learning_rate).weight_decay(options.weight_decay));
  auto& group_options = static_cast<torch::optim::AdamWOptions&>(optimizer.param_groups().at(0).options());
  for (int64_t step = 1; step <= options.steps; ++step) {
    // Cosine decay to 0: the large early steps find the arrangement, the small late ones settle it.
    const double fraction = static_cast<double>(step - 1) / static_cast<double>(options.steps);
    group_options.lr(options.learning_rate * 0.5 * (1 + std::cos(M_PI * fraction)));
    auto x = toy_sample_features(options.batch, n, options.feature_probability, generator);
    auto loss = toy_weighted_loss(x, model.forward(x), importance);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    if (options.progress && (step % 100 == 0 || step == options.steps)) options.progress(step, loss.item<double>());
  }

  torch::NoGradGuard no_grad;
  ToySuperpositionModel trained{W.detach().clone(), b.detach().clone()};
  auto report = measure_toy_superposition(trained);
  auto x = toy_sample_features(options.batch, n, options.feature_probability, generator);
  report.loss = toy_weighted_loss(x, trained.forward(x), importance).item<double>();
  return report;
}

nlohmann::json ToySuperpositionReport::to_json() const {
  nlohmann::json j = {{"n_features", model.W.defined() ? model.W.size(1) : 0},
                      {"n_hidden", model.W.defined() ? model.W.size(0) : 0},
                      {"loss", loss},
                      {"features_represented", features_represented},
                      {"dimensions_per_feature", dimensions_per_feature}};
  if (feature_norms.defined()) j["feature_norms"] = toy_values(feature_norms);
  if (superposition.defined()) j["superposition"] = toy_values(superposition);
  if (feature_dimensionality.defined()) j["feature_dimensionality"] = toy_values(feature_dimensionality);
  return j;
}

NamedTensors ToySuperpositionReport::tensors() const {
  NamedTensors t;
  for (auto& [name, tensor] : NamedTensors{{"W", model.W},
                                           {"b", model.b},
                                           {"feature_norms", feature_norms},
                                           {"superposition", superposition},
                                           {"feature_dimensionality", feature_dimensionality}})
    if (tensor.defined()) t.emplace_back(name, tensor);
  return t;
}

}  // namespace arrakis
