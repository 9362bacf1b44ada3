#include "arrakis/analysis/linear_probe.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "arrakis/error.hpp"
#include "arrakis/hooks/hook_catalogue.hpp"
#include "arrakis/model/hooked_transformer.hpp"
#include "arrakis/util/seeded_generator.hpp"

namespace arrakis {

namespace {

struct ProbeSplit {
  torch::Tensor train, validation, test;  // row indices
};

struct ProbeFit {
  torch::Tensor w;  // [d] on standardised features
  double b = 0;
};

// Newton's method on the mean binary cross-entropy + λ‖w‖² (the bias unpenalised): exact, deterministic, and quick
// for the widths probes see (d ≤ a few thousand).
ProbeFit probe_fit_logistic(const torch::Tensor& X, const torch::Tensor& y, double l2, int64_t iterations) {
  const int64_t n = X.size(0), d = X.size(1);
  auto Xa = torch::cat({X, torch::ones({n, 1}, torch::kFloat64)}, 1);
  auto theta = torch::zeros({d + 1}, torch::kFloat64);
  auto penalty = torch::full({d + 1}, 2 * l2, torch::kFloat64);
  penalty[d] = 0;
  for (int64_t it = 0; it < iterations; ++it) {
    const auto p = torch::sigmoid(torch::mv(Xa, theta));
    const auto g = torch::mv(Xa.t(), p - y) / n + penalty * theta;
    const auto s = (p * (1 - p)).clamp_min(1e-10);
    auto H = torch::mm(Xa.t() * s, Xa) / n + torch::diag(penalty);
    H.diagonal().add_(1e-9);  // the bias' row when every score saturates
    const auto step = torch::linalg_solve(H, g);
    theta = theta - step;
    if (step.abs().max().item<double>() < 1e-9) break;
  }
  return {theta.slice(0, 0, d), theta[d].item<double>()};
}

// Ridge regression on centred targets: w = (XᵀX/n + λI)⁻¹ Xᵀ(y − ȳ)/n, b = ȳ (features are centred).
ProbeFit probe_fit_linear(const torch::Tensor& X, const torch::Tensor& y, double l2) {
  const int64_t n = X.size(0), d = X.size(1);
  const double mean = y.mean().item<double>();
  auto A = torch::mm(X.t(), X) / n + l2 * torch::eye(d, torch::kFloat64);
  auto w = torch::linalg_solve(A, torch::mv(X.t(), y - mean) / n);
  return {w, mean};
}

double probe_score(ProbeKind kind, const torch::Tensor& scores, const torch::Tensor& y) {
  if (y.numel() == 0) return std::nan("");
  if (kind == ProbeKind::Logistic)
    return ((scores > 0).to(torch::kFloat64) == y).to(torch::kFloat64).mean().item<double>();
  const double ss_res = (y - scores).pow(2).sum().item<double>();
  const double ss_tot = (y - y.mean()).pow(2).sum().item<double>();
  return ss_tot > 0 ? 1 - ss_res / ss_tot : std::nan("");
}

struct ProbeRun {
  ProbeFit fit;
  double l2 = 0, train = 0, validation = 0, test = 0;
};

// Standardised features in, the best λ of the grid on the validation split out.
ProbeRun probe_run(const torch::Tensor& Z, const torch::Tensor& y, const ProbeSplit& split, const ProbeOptions& o) {
  ProbeRun best;
  bool have = false;
  const auto Xt = Z.index_select(0, split.train), yt = y.index_select(0, split.train);
  const auto Xv = Z.index_select(0, split.validation), yv = y.index_select(0, split.validation);
  for (double l2 : o.l2_grid) {
    auto fit =
        o.kind == ProbeKind::Logistic ? probe_fit_logistic(Xt, yt, l2, o.max_iterations) : probe_fit_linear(Xt, yt, l2);
    const double v = probe_score(o.kind, torch::mv(Xv, fit.w) + fit.b, yv);
    // Ties go to the larger λ (the simpler probe): the grid is scanned upwards and >= keeps the later one.
    if (!have || v >= best.validation || std::isnan(best.validation)) {
      best = {fit, l2, 0, v, 0};
      have = true;
    }
  }
  best.train = probe_score(o.kind, torch::mv(Xt, best.fit.w) + best.fit.b, yt);
  const auto Xs = Z.index_select(0, split.test), ys = y.index_select(0, split.test);
  best.test = probe_score(o.kind, torch::mv(Xs, best.fit.w) + best.fit.b, ys);
  return best;
}

}  // namespace

std::string probe_kind_name(ProbeKind kind) { return kind == ProbeKind::Logistic ? "logistic" : "linear"; }

double roc_auc(const torch::Tensor& scores, const torch::Tensor& labels) {
  auto s = scores.to(torch::kFloat64).reshape({-1}).contiguous();
  auto y = labels.to(torch::kFloat64).reshape({-1}).contiguous();
  const int64_t n = s.numel();
  const double n_pos = y.sum().item<double>(), n_neg = static_cast<double>(n) - n_pos;
  if (n_pos == 0 || n_neg == 0) return std::nan("");
  auto order = std::get<1>(s.sort());
  const auto* sv = s.data_ptr<double>();
  const auto* yv = y.data_ptr<double>();
  const auto* ov = order.data_ptr<int64_t>();
  double rank_sum = 0;
  for (int64_t i = 0; i < n;) {  // ranks from 1, ties sharing their mean rank
    int64_t j = i;
    while (j + 1 < n && sv[ov[j + 1]] == sv[ov[i]]) ++j;
    const double mean_rank = (static_cast<double>(i) + static_cast<double>(j)) / 2 + 1;
    for (int64_t t = i; t <= j; ++t)
      if (yv[ov[t]] > 0.5) rank_sum += mean_rank;
    i = j + 1;
  }
  return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg);
}

torch::Tensor LinearProbe::score(const torch::Tensor& features) const {
  return torch::mv(features.to(torch::kFloat64), weight) + bias;
}

LinearProbe train_linear_probe(const torch::Tensor& features, const torch::Tensor& labels,
                               const ProbeOptions& options) {
  if (!features.defined() || features.dim() != 2 || !features.is_floating_point())
    throw Error("train_probe: features are a floating tensor [n, d]");
  const int64_t n = features.size(0), d = features.size(1);
  if (!labels.defined() || labels.numel() != n)
    throw Error(fmt::format("train_probe: {} labels for {} examples", labels.defined() ? labels.numel() : 0, n));
  if (!(options.train_fraction > 0 && options.validation_fraction >= 0 &&
        options.train_fraction + options.validation_fraction < 1))
    throw Error(fmt::format("train_probe: train_fraction {} and validation_fraction {} leave no test split",
                            options.train_fraction, options.validation_fraction));
  if (options.l2_grid.empty()) throw Error("train_probe: the l2 grid is empty");
  for (double l2 : options.l2_grid)
    if (!(l2 > 0)) throw Error(fmt::format("train_probe: l2 {} is not positive", l2));
  auto y = labels.reshape({-1}).to(torch::kFloat64).cpu();
  if (options.kind == ProbeKind::Logistic && !((y == 0) | (y == 1)).all().item<bool>())
    throw Error("train_probe: a logistic probe's labels are 0 or 1");
  if (!torch::isfinite(y).all().item<bool>()) throw Error("train_probe: labels hold NaN or infinity");
  auto X = features.to(torch::kFloat64).cpu();
  if (!torch::isfinite(X).all().item<bool>()) throw Error("train_probe: features hold NaN or infinity");

  auto generator = seeded_generator(options.seed);
  const auto perm = torch::randperm(n, generator, torch::kInt64);
  const int64_t n_train = static_cast<int64_t>(std::floor(n * options.train_fraction));
  const int64_t n_val = static_cast<int64_t>(std::floor(n * options.validation_fraction));
  if (n_train < 2 || n_val < 1 || n - n_train - n_val < 1)
    throw Error(fmt::format("train_probe: {} examples are too few for train/validation/test splits", n));
  ProbeSplit split{perm.slice(0, 0, n_train), perm.slice(0, n_train, n_train + n_val), perm.slice(0, n_train + n_val)};

  // Standardise with the training split's statistics (constant features keep a unit scale).
  const auto Xt = X.index_select(0, split.train);
  const auto mean = Xt.mean(0);
  const auto std = Xt.std(0).clamp_min(1e-8);
  const auto Z = (X - mean) / std;

  LinearProbe probe;
  probe.kind = options.kind;
  probe.n_train = n_train;
  probe.n_validation = n_val;
  probe.n_test = n - n_train - n_val;
  auto run = probe_run(Z, y, split, options);
  probe.l2 = run.l2;
  probe.train_score = run.train;
  probe.validation_score = run.validation;
  probe.test_score = run.test;
  probe.weight = run.fit.w / std;
  probe.bias = run.fit.b - (run.fit.w * mean / std).sum().item<double>();
  const double norm = probe.weight.norm().item<double>();
  probe.direction = norm > 0 ? probe.weight / norm : probe.weight.clone();
  const auto ys = y.index_select(0, split.test);
  if (options.kind == ProbeKind::Logistic) {
    probe.test_auc = roc_auc(probe.score(X.index_select(0, split.test)), ys);
    const double train_positive = y.index_select(0, split.train).mean().item<double>();
    const double commoner = train_positive >= 0.5 ? 1.0 : 0.0;
    probe.majority_rate = (ys == commoner).to(torch::kFloat64).mean().item<double>();
  } else {
    probe.test_auc = std::nan("");
  }
  if (options.control) {
    // Hewitt & Liang's control task gives each input a random label it keeps; with one example per input that is a
    // seeded shuffle of the labels. The same splits, the same grid.
    const auto shuffled = y.index_select(0, torch::randperm(n, generator, torch::kInt64));
    probe.control_test_score = probe_run(Z, shuffled, split, options).test;
    probe.selectivity = probe.test_score - probe.control_test_score;
  } else {
    probe.control_test_score = probe.selectivity = std::nan("");
  }
  (void)d;
  return probe;
}

nlohmann::json LinearProbe::to_json() const {
  auto number = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
  return {{"kind", probe_kind_name(kind)},
          {"score", kind == ProbeKind::Logistic ? "accuracy" : "r2"},
          {"l2", l2},
          {"bias", bias},
          {"n_train", n_train},
          {"n_validation", n_validation},
          {"n_test", n_test},
          {"train_score", number(train_score)},
          {"validation_score", number(validation_score)},
          {"test_score", number(test_score)},
          {"test_auc", number(test_auc)},
          {"majority_rate", number(majority_rate)},
          {"control_test_score", number(control_test_score)},
          {"selectivity", number(selectivity)}};
}

namespace {

// Activations [n, d] of each hook at one position per example, from one forward.
std::vector<torch::Tensor> probe_features(HookedTransformer& model, const torch::Tensor& tokens,
                                          const std::vector<std::string>& hooks,
                                          const std::vector<int64_t>& positions) {
  if (!tokens.defined() || tokens.dim() != 2) throw Error("probe: tokens are [n, pos]");
  const int64_t n = tokens.size(0), length = tokens.size(1);
  if (!positions.empty() && static_cast<int64_t>(positions.size()) != n)
    throw Error(fmt::format("probe: {} positions for {} examples", positions.size(), n));
  auto index = torch::empty({n}, torch::kInt64);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t given = positions.empty() ? -1 : positions[static_cast<std::size_t>(i)];
    const int64_t p = given < 0 ? given + length : given;
    if (p < 0 || p >= length)
      throw Error(fmt::format("probe: position {} of example {} is outside its {} tokens", given, i, length));
    index[i] = p;
  }
  torch::NoGradGuard no_grad;
  auto [logits, cache] = model.run_with_cache(tokens.to(model.device()), NameFilter{hooks});
  std::vector<torch::Tensor> out;
  for (const auto& hook : hooks) {
    auto a = cache[hook];
    if (a.dim() < 3 || a.size(0) != n || a.size(1) != length)
      throw Error(fmt::format("probe: hook point '{}' does not hold one vector per token", hook));
    a = a.reshape({n, length, -1}).cpu();
    out.push_back(a.index({torch::arange(n), index}).to(torch::kFloat64));
  }
  return out;
}

}  // namespace

torch::Tensor activations_at_positions(HookedTransformer& model, const torch::Tensor& tokens, const std::string& hook,
                                       const std::vector<int64_t>& positions) {
  return probe_features(model, tokens, {hook}, positions)[0];
}

LayerProbes probe_every_layer(HookedTransformer& model, const torch::Tensor& tokens, const torch::Tensor& labels,
                              const LayerProbeOptions& options) {
  const HookSpec* spec = nullptr;
  for (const auto& s : hook_catalogue()) {
    if (!s.in_block()) continue;
    if (s.short_name == options.point ||
        std::find(s.aliases.begin(), s.aliases.end(), options.point) != s.aliases.end())
      spec = &s;
  }
  if (!spec)
    throw Error(
        fmt::format("probe_layers: '{}' is not the short name of a per-layer hook point (resid_pre, "
                    "resid_mid, resid_post, attn_out, mlp_out, post, ...)",
                    options.point));
  LayerProbes out;
  const int L = static_cast<int>(model.config().n_layers);
  std::vector<double> test, control, selectivity;
  for (int l = 0; l < L; ++l) out.hooks.push_back(spec->name(l));
  const auto features = probe_features(model, tokens, out.hooks, options.positions);
  for (int l = 0; l < L; ++l) {
    out.probes.push_back(train_linear_probe(features[static_cast<std::size_t>(l)], labels, options.probe));
    test.push_back(out.probes.back().test_score);
    control.push_back(out.probes.back().control_test_score);
    selectivity.push_back(out.probes.back().selectivity);
  }
  out.test_score = torch::tensor(test, torch::kFloat64);
  out.control_test_score = torch::tensor(control, torch::kFloat64);
  out.selectivity = torch::tensor(selectivity, torch::kFloat64);
  out.best_layer = torch::nan_to_num(out.test_score, -1e300).argmax().item<int64_t>();
  return out;
}

nlohmann::json LayerProbes::to_json() const {
  nlohmann::json layers = nlohmann::json::array();
  for (std::size_t i = 0; i < probes.size(); ++i) {
    auto j = probes[i].to_json();
    j["hook"] = hooks[i];
    layers.push_back(j);
  }
  return {{"best_layer", best_layer}, {"layers", layers}};
}

NamedTensors LayerProbes::tensors() const {
  NamedTensors out = {
      {"test_score", test_score}, {"control_test_score", control_test_score}, {"selectivity", selectivity}};
  for (std::size_t i = 0; i < probes.size(); ++i) out.emplace_back(fmt::format("direction.{}", i), probes[i].direction);
  return out;
}

}  // namespace arrakis
