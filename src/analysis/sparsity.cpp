#include "arrakis/analysis/sparsity.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "arrakis/error.hpp"
#include "arrakis/hooks/hook_catalogue.hpp"
#include "arrakis/model/hooked_transformer.hpp"

namespace arrakis {

namespace {

std::vector<double> sparsity_doubles(const torch::Tensor& t) {
  auto c = t.to(torch::kFloat64).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

// The token's text for contexts: the tokenizer's decoding, or the id.
std::string sparsity_token_text(const HookedTransformer* model, std::span<const int64_t> ids) {
  if (model && model->has_tokenizer()) {
    try {
      return model->tokenizer().decode(ids);
    } catch (const Error&) {  // ids outside the vocabulary: shown as numbers below
    }
  }
  std::string out;
  for (auto id : ids) {
    if (!out.empty()) out += ' ';
    out += std::to_string(id);
  }
  return out;
}

// The entropy (nats) of a distribution given by counts; NaN when there is nothing counted.
double sparsity_entropy(const std::map<int64_t, int64_t>& counts) {
  int64_t total = 0;
  for (const auto& [key, count] : counts) total += count;
  double h = 0;
  for (const auto& [key, count] : counts) {
    const double p = static_cast<double>(count) / static_cast<double>(total);
    h -= p * std::log(p);
  }
  return total > 0 ? h : std::nan("");
}

}  // namespace

std::string firing_rule_name(FiringRule rule) {
  switch (rule) {
    case FiringRule::Auto: return "auto";
    case FiringRule::Positive: return "positive";
    case FiringRule::Magnitude: return "magnitude";
  }
  return "?";
}

FiringRule firing_rule_for(const std::string& hook, FiringRule rule) {
  if (rule != FiringRule::Auto) return rule;
  for (const char* suffix : {"mlp.hook_post", "hook_sae_acts_post"})
    if (hook.ends_with(suffix)) return FiringRule::Positive;
  return FiringRule::Magnitude;
}

SparsityStatistics activation_sparsity(const ActivationDataset& data, const SparsityOptions& options) {
  if (!(options.epsilon >= 0)) throw Error(fmt::format("sparsity: epsilon {} is negative", options.epsilon));
  if (!(options.dense_fraction > 0 && options.dense_fraction <= 1))
    throw Error(fmt::format("sparsity: dense_fraction {} is not in (0, 1]", options.dense_fraction));
  SparsityStatistics out;
  out.hook = data.hook();
  out.rule = firing_rule_for(data.hook(), options.rule);
  out.epsilon = options.epsilon;
  out.n_tokens = data.n_rows();
  out.n_units = data.d();
  const int64_t U = data.d();
  auto fires = torch::zeros({U}, torch::kFloat64);
  auto sums = torch::zeros({U}, torch::kFloat64);
  auto maxima = torch::full({U}, -std::numeric_limits<double>::infinity(), torch::kFloat64);
  std::vector<torch::Tensor> l0_parts;
  double zeros = 0, hoyer_sum = 0, gini_sum = 0;
  int64_t nonzero_rows = 0;
  const double sqrt_n = std::sqrt(static_cast<double>(U));
  data.for_each_batch(options.batch_rows, [&](const torch::Tensor& x, int64_t) {
    const auto firing = out.rule == FiringRule::Positive ? x > options.epsilon : x.abs() > options.epsilon;
    fires += firing.sum(0, false, torch::kFloat64);
    sums += x.sum(0, false, torch::kFloat64);
    maxima = torch::maximum(maxima, std::get<0>(x.max(0)).to(torch::kFloat64));
    l0_parts.push_back(firing.sum(1, false, torch::kFloat64));
    zeros += (x == 0).sum().item<double>();
    const auto a = x.abs().to(torch::kFloat64);
    const auto l1 = a.sum(1), l2 = a.norm(2, 1);
    const auto live = l2 > 0;
    nonzero_rows += live.sum().item<int64_t>();
    if (U > 1)
      hoyer_sum += ((sqrt_n - l1 / l2.clamp_min(1e-300)) / (sqrt_n - 1)).masked_select(live).sum().item<double>();
    // Gini of each row's |a| sorted ascending: Σ_i (2i − n − 1) a_(i) / (n Σ a), i from 1.
    const auto sorted = std::get<0>(a.sort(1));
    const auto weights = torch::arange(1, U + 1, torch::kFloat64) * 2 - U - 1;
    const auto gini = (sorted * weights).sum(1) / (U * l1.clamp_min(1e-300));
    gini_sum += gini.masked_select(live).sum().item<double>();
  });
  const double n = static_cast<double>(out.n_tokens);
  out.firing_frequency = fires / n;
  out.mean_activation = sums / n;
  out.max_activation = maxima;
  out.l0 = torch::cat(l0_parts);
  out.mean_l0 = out.l0.mean().item<double>();
  out.fraction_zero = zeros / (n * U);
  out.hoyer = nonzero_rows > 0 && U > 1 ? hoyer_sum / nonzero_rows : std::nan("");
  out.gini = nonzero_rows > 0 ? gini_sum / nonzero_rows : std::nan("");
  const auto freq = out.firing_frequency;
  for (int64_t u = 0; u < U; ++u) {
    const double f = freq[u].item<double>();
    if (f == 0) out.dead_units.push_back(u);
    if (f > options.dense_fraction) out.dense_units.push_back(u);
  }
  // log10 frequencies from the rarest observable (one token in n) to 1, in bins of a quarter decade.
  const double low = std::floor(std::log10(1.0 / n) * 4) / 4;
  const int64_t bins = std::max<int64_t>(1, static_cast<int64_t>(std::llround(-low * 4)));
  out.histogram_edges = torch::linspace(low, 0, bins + 1, torch::kFloat64);
  out.histogram_counts = torch::zeros({bins}, torch::kInt64);
  for (int64_t u = 0; u < U; ++u) {
    const double f = freq[u].item<double>();
    if (f <= 0) continue;
    const int64_t bin = std::clamp<int64_t>(static_cast<int64_t>(std::floor((std::log10(f) - low) * 4)), 0, bins - 1);
    out.histogram_counts[bin] += 1;
  }
  return out;
}

nlohmann::json SparsityStatistics::to_json() const {
  return {
      {"hook", hook},
      {"rule", firing_rule_name(rule)},
      {"epsilon", epsilon},
      {"n_tokens", n_tokens},
      {"n_units", n_units},
      {"mean_l0", mean_l0},
      {"fraction_zero", fraction_zero},
      {"dead_units", dead_units},
      {"dense_units", dense_units},
      {"n_dead", dead_units.size()},
      {"n_dense", dense_units.size()},
      {"hoyer", std::isnan(hoyer) ? nlohmann::json(nullptr) : nlohmann::json(hoyer)},
      {"gini", std::isnan(gini) ? nlohmann::json(nullptr) : nlohmann::json(gini)},
      {"histogram",
       {{"log10_frequency_edges", sparsity_doubles(histogram_edges)}, {"counts", sparsity_doubles(histogram_counts)}}}};
}

NamedTensors SparsityStatistics::tensors() const {
  return {{"firing_frequency", firing_frequency}, {"mean_activation", mean_activation},
          {"max_activation", max_activation},     {"l0", l0},
          {"histogram_edges", histogram_edges},   {"histogram_counts", histogram_counts}};
}

UnitContexts unit_contexts(const ActivationDataset& data, const HookedTransformer* model, int64_t unit,
                           const torch::Tensor& values, const torch::Tensor& rows, int64_t window) {
  UnitContexts out;
  out.unit = unit;
  const auto& tokens = data.tokens();
  const int64_t ctx = data.context_length();
  std::map<int64_t, int64_t> counts;
  for (int64_t i = 0; i < rows.numel(); ++i) {
    const double v = values[i].item<double>();
    if (!std::isfinite(v)) continue;
    ActivatingContext c;
    c.activation = v;
    c.row = rows[i].item<int64_t>();
    if (tokens.defined() && ctx > 0) {
      c.sequence = c.row / ctx;
      c.position = c.row % ctx;
      auto seq = tokens[c.sequence].contiguous();
      const int64_t* ids = seq.data_ptr<int64_t>();
      c.token = ids[c.position];
      const int64_t from = std::max<int64_t>(0, c.position - window), to = std::min(ctx, c.position + window + 1);
      c.token_text = sparsity_token_text(model, {ids + c.position, 1});
      c.context = sparsity_token_text(model, {ids + from, static_cast<std::size_t>(c.position - from)}) + "[[" +
                  c.token_text + "]]" +
                  sparsity_token_text(model, {ids + c.position + 1, static_cast<std::size_t>(to - c.position - 1)});
      if (v > 0) ++counts[c.token];
    }
    out.top.push_back(std::move(c));
  }
  out.entropy = sparsity_entropy(counts);
  return out;
}

PolysemanticUnits polysemantic_units(const ActivationDataset& data, const HookedTransformer* model,
                                     const PolysemanticityOptions& options) {
  if (options.top_k < 1) throw Error(fmt::format("top_k {} is below 1", options.top_k));
  if (options.window < 0) throw Error(fmt::format("window {} is negative", options.window));
  if (!data.tokens().defined()) throw Error(fmt::format("the activations of {} came with no tokens", data.hook()));
  const int64_t U = data.d(), k = std::min(options.top_k, data.n_rows());
  auto values = torch::full({U, 0}, 0.0f);
  auto rows = torch::zeros({U, 0}, torch::kInt64);
  data.for_each_batch(options.batch_rows, [&](const torch::Tensor& x, int64_t first) {
    const auto xt = x.t();  // [U, n]
    auto [v, i] = xt.topk(std::min<int64_t>(k, x.size(0)), 1);
    auto all_v = torch::cat({values, v}, 1);
    auto all_r = torch::cat({rows, i + first}, 1);
    auto [best, order] = all_v.topk(std::min<int64_t>(k, all_v.size(1)), 1);
    values = best;
    rows = all_r.gather(1, order);
  });
  PolysemanticUnits out;
  out.hook = data.hook();
  out.top_k = k;
  out.top_values = values;
  out.top_rows = rows;
  out.top_tokens = data.row_tokens().index({rows.reshape({-1})}).reshape(rows.sizes());
  out.entropy = torch::empty({U}, torch::kFloat64);
  // Entropy over the top activations that are positive (a unit that never fires has none: NaN).
  for (int64_t u = 0; u < U; ++u) {
    std::map<int64_t, int64_t> counts;
    for (int64_t j = 0; j < k; ++j)
      if (values[u][j].item<float>() > 0) ++counts[out.top_tokens[u][j].item<int64_t>()];
    out.entropy[u] = sparsity_entropy(counts);
  }
  auto ranked = std::get<1>(torch::nan_to_num(out.entropy, -1.0).sort(0, /*descending=*/true));
  for (int64_t i = 0; i < std::min(options.n_listed, U); ++i) {
    const int64_t u = ranked[i].item<int64_t>();
    if (std::isnan(out.entropy[u].item<double>())) break;
    out.most_polysemantic.push_back(unit_contexts(data, model, u, values[u], rows[u], options.window));
  }
  return out;
}

nlohmann::json PolysemanticUnits::to_json() const {
  nlohmann::json units = nlohmann::json::array();
  for (const auto& u : most_polysemantic) {
    nlohmann::json top = nlohmann::json::array();
    for (const auto& c : u.top)
      top.push_back({{"activation", c.activation},
                     {"row", c.row},
                     {"sequence", c.sequence},
                     {"position", c.position},
                     {"token", c.token},
                     {"token_text", c.token_text},
                     {"context", c.context}});
    units.push_back({{"unit", u.unit}, {"entropy", u.entropy}, {"top", top}});
  }
  return {{"hook", hook}, {"top_k", top_k}, {"most_polysemantic", units}};
}

NamedTensors PolysemanticUnits::tensors() const {
  return {{"top_values", top_values}, {"top_rows", top_rows}, {"top_tokens", top_tokens}, {"entropy", entropy}};
}

double mean_next_token_loss(HookedTransformer& model, const torch::Tensor& tokens, int64_t batch) {
  if (!tokens.defined() || tokens.dim() != 2 || tokens.size(1) < 2)
    throw Error("the loss needs token ids [n, pos] with at least two positions");
  torch::NoGradGuard no_grad;
  double total = 0;
  int64_t count = 0;
  for (int64_t s = 0; s < tokens.size(0); s += batch) {
    auto ids = tokens.slice(0, s, std::min(s + batch, tokens.size(0))).to(model.device());
    auto logits = model.forward(ids).to(torch::kFloat32);
    auto log_probs = torch::log_softmax(logits.slice(1, 0, -1), -1);
    auto picked = log_probs.gather(-1, ids.slice(1, 1).unsqueeze(-1)).squeeze(-1);
    total -= picked.sum(torch::kFloat64).item<double>();
    count += picked.numel();
  }
  return total / count;
}

PrunedNetwork prune_network(HookedTransformer& model, const torch::Tensor& tokens, const PruneOptions& options) {
  const auto& c = model.config();
  if (!c.has_mlp()) throw Error(fmt::format("prune_network: {} has no MLP neurons", c.model_name));
  if (!(options.threshold >= 0 && options.threshold <= 1))
    throw Error(fmt::format("prune_network: threshold {} is not a fraction of tokens in [0, 1]", options.threshold));
  if (!tokens.defined() || tokens.dim() != 2 || tokens.size(1) < 2)
    throw Error("prune_network: tokens are [n, pos] with at least two positions");
  PrunedNetwork out;
  out.threshold = options.threshold;
  const int L = static_cast<int>(c.n_layers);
  auto counts = torch::zeros({L, c.d_mlp}, torch::kFloat64);
  {
    torch::NoGradGuard no_grad;
    std::vector<HookGuard> guards;
    for (int l = 0; l < L; ++l)
      guards.push_back(model.add_hook(hooks::mlp_post(l), [&counts, l](const torch::Tensor& t) {
        counts[l] += (t > 0).reshape({-1, t.size(-1)}).sum(0, false, torch::kFloat64).cpu();
      }));
    out.loss_before = mean_next_token_loss(model, tokens, options.batch);
  }
  out.firing_frequency = counts / static_cast<double>(tokens.numel());
  out.total = L * c.d_mlp;
  std::vector<torch::Tensor> masks(static_cast<std::size_t>(L));
  std::vector<std::string> pruned_points;
  for (int l = 0; l < L; ++l) {
    auto prune = out.firing_frequency[l] < options.threshold;
    const int64_t n = prune.sum().item<int64_t>();
    out.pruned_per_layer.push_back(n);
    out.pruned += n;
    if (n == 0) continue;  // no hook at all: the layer runs exactly as before
    masks[static_cast<std::size_t>(l)] = prune.to(model.device());
    pruned_points.push_back(hooks::mlp_post(l));
  }
  if (!pruned_points.empty())
    out.guard = model.add_hook(NameFilter(pruned_points), [masks](const torch::Tensor& t, const HookPoint& point) {
      return t.masked_fill(masks.at(static_cast<std::size_t>(point.layer)), 0);
    });
  out.loss_after = mean_next_token_loss(model, tokens, options.batch);
  return out;
}

nlohmann::json PrunedNetwork::to_json() const {
  return {
      {"threshold", threshold},     {"pruned", pruned},        {"total", total}, {"pruned_per_layer", pruned_per_layer},
      {"loss_before", loss_before}, {"loss_after", loss_after}};
}

}  // namespace arrakis
