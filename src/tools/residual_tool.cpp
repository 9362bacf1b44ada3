#include "arrakis/tools/residual_tool.hpp"

#include <fmt/format.h>

#include <boost/math/special_functions/legendre.hpp>

#include "arrakis/analysis/metrics.hpp"
#include "arrakis/analysis/residual_stream.hpp"
#include "arrakis/error.hpp"
#include "arrakis/model/hooked_transformer.hpp"
#include "tools/tool_inputs.hpp"

namespace arrakis {

using namespace tool_inputs;
using torch::indexing::Slice;

std::vector<ToolArgument<ResidualDecompositionArgs>> ResidualDecompositionArgs::arguments() {
  using A = ResidualDecompositionArgs;
  return {argument("tokens", &A::tokens, "the input", Need::Required),
          argument("layer", &A::layer, "decompose blocks.{layer}.hook_resid_post", Need::Required),
          argument("per_head", &A::per_head, "each head's output (z W_O) and the b_O biases instead of each attn_out")};
}

std::vector<ToolArgument<ResidualMovementArgs>> ResidualMovementArgs::arguments() {
  using A = ResidualMovementArgs;
  return {argument("tokens", &A::tokens, "the input", Need::Required),
          argument("layer1", &A::layer1, "from resid_post of this layer (-1: blocks.0.hook_resid_pre)"),
          argument("layer2", &A::layer2, "to resid_post of this layer", Need::Required)};
}

std::vector<ToolArgument<FeatureAttributionArgs>> FeatureAttributionArgs::arguments() {
  using A = FeatureAttributionArgs;
  return {
      argument("tokens", &A::tokens, "the input", Need::Required),
      argument("target", &A::target, "the token whose logit is attributed (or give a metric)"),
      argument("metric", &A::metric, "attribute this metric instead: logit-diff:A,B | logprob:T | loss | kl"),
      argument("method", &A::method_used, "integrated gradients or gradient x input"),
      argument("steps", &A::steps, "integrated gradients: Gauss-Legendre points on the path"),
      argument("baseline", &A::baseline, "where the path starts: zero embeddings, or one token's at every position"),
      argument("position", &A::position, "where the logit is read (negative: from the end)")};
}

AttributionBaseline ArgumentType<AttributionBaseline>::parse(std::string_view text) {
  if (text == "zero") return {};
  if (text.starts_with("token:")) return {ArgumentType<int64_t>::parse(text.substr(6))};
  throw Error(fmt::format("baseline '{}' is neither zero nor token:ID", text));
}

ToolDescription ResidualTool::describe() {
  return {
      "what the residual stream is made of, how it moves between layers, and which input positions a logit is "
      "attributed to",
      {method<&ResidualTool::residual_decomposition>(), method<&ResidualTool::residual_movement>(),
       method<&ResidualTool::feature_attribution>()}};
}

namespace {

// Nodes and weights of the n-point Gauss-Legendre rule on [0, 1], from Boost.Math's Legendre zeros.
std::vector<std::pair<double, double>> gauss_legendre_on_unit_interval(int n) {
  std::vector<std::pair<double, double>> rule;
  for (double x : boost::math::legendre_p_zeros<double>(n)) {
    const double derivative = boost::math::legendre_p_prime(n, x);
    const double weight = 2.0 / ((1.0 - x * x) * derivative * derivative);
    rule.emplace_back((1.0 + x) / 2.0, weight / 2.0);
    if (x != 0.0) rule.emplace_back((1.0 - x) / 2.0, weight / 2.0);
  }
  return rule;
}

}  // namespace

nlohmann::json ResidualComponents::to_json() const {
  nlohmann::json list = nlohmann::json::array();
  const auto mean_norm = norms.mean(std::vector<int64_t>{1, 2}), mean_share = shares.mean(std::vector<int64_t>{1, 2});
  for (size_t i = 0; i < labels.size(); ++i)
    list.push_back({{"label", labels[i]},
                    {"mean_norm", mean_norm[static_cast<int64_t>(i)].item<double>()},
                    {"mean_share", mean_share[static_cast<int64_t>(i)].item<double>()}});
  const double error = (components.sum(0) - residual).abs().max().item<double>();
  return {{"components", list}, {"reconstruction_error", error}};
}

NamedTensors ResidualComponents::tensors() const {
  return {{"components", components}, {"residual", residual}, {"norms", norms}, {"shares", shares}};
}

nlohmann::json ResidualMovement::to_json() const {
  return {{"layer1", layer1},
          {"layer2", layer2},
          {"parts", labels},
          {"mean_relative_change", relative_change.mean().item<double>()},
          {"mean_cosine", cosine.mean().item<double>()},
          {"relative_change", to_doubles(relative_change)},
          {"cosine", to_doubles(cosine)},
          {"part_norms", to_doubles(parts.norm(2, -1).mean(std::vector<int64_t>{1, 2}))}};
}

NamedTensors ResidualMovement::tensors() const {
  return {{"relative_change", relative_change}, {"cosine", cosine}, {"parts", parts}, {"delta", delta}};
}

nlohmann::json FeatureAttribution::to_json() const {
  return {{"method", ArgumentType<AttributionMethod>::to_json(method)},
          {"target", target ? nlohmann::json(*target) : nlohmann::json(nullptr)},
          {"metric", metric},
          {"position", position},
          {"steps", steps},
          {"attributions", to_doubles(attributions)},
          {"logit", to_doubles(logit)},
          {"baseline_logit", to_doubles(baseline_logit)},
          {"completeness_gap", to_doubles(attributions.sum(-1) - (logit - baseline_logit))}};
}

NamedTensors FeatureAttribution::tensors() const {
  return {{"attributions", attributions}, {"logit", logit}, {"baseline_logit", baseline_logit}};
}

ResidualComponents ResidualTool::residual_decomposition(const ResidualDecompositionArgs& args) {
  note_call(args);
  torch::NoGradGuard no_grad;
  auto& m = model();
  constexpr auto name = ResidualDecompositionArgs::method;
  check_layer(m.config(), args.layer, name);
  const auto ids = batch_of_tokens(args.tokens, name);
  auto [logits, cache] = m.run_with_cache(ids);
  // The stream entering layer + 1 is layer's resid_post (-1: the last one).
  const int next = args.layer + 1 == m.config().n_layers ? -1 : static_cast<int>(args.layer + 1);
  ResidualStack stack = args.per_head ? get_full_resid_decomposition(m, cache, {.layer = next, .expand_neurons = false})
                                      : decompose_resid(m, cache, {.layer = next});
  ResidualComponents out;
  out.labels = stack.labels;
  out.components = stack.components.to(torch::kFloat64).cpu();
  out.residual = cache[hooks::resid_post(static_cast<int>(args.layer))].to(torch::kFloat64).cpu();
  out.norms = out.components.norm(2, -1);
  out.shares = (out.components * out.residual).sum(-1) / (out.residual * out.residual).sum(-1).clamp_min(1e-300);
  return out;
}

ResidualMovement ResidualTool::residual_movement(const ResidualMovementArgs& args) {
  note_call(args);
  torch::NoGradGuard no_grad;
  auto& m = model();
  const auto& c = m.config();
  constexpr auto name = ResidualMovementArgs::method;
  if (args.layer1 != -1) check_layer(c, args.layer1, name, "layer1");
  check_layer(c, args.layer2, name, "layer2");
  if (args.layer2 <= args.layer1)
    throw Error(fmt::format("{}: layer2 {} must come after layer1 {}", name, args.layer2, args.layer1));
  const auto ids = batch_of_tokens(args.tokens, name);
  auto [logits, cache] = m.run_with_cache(ids);
  auto f64 = [](const torch::Tensor& t) { return t.to(torch::kFloat64).cpu(); };
  const auto x1 =
      f64(args.layer1 < 0 ? cache[hooks::resid_pre(0)] : cache[hooks::resid_post(static_cast<int>(args.layer1))]);
  const auto x2 = f64(cache[hooks::resid_post(static_cast<int>(args.layer2))]);
  ResidualMovement out;
  out.layer1 = args.layer1;
  out.layer2 = args.layer2;
  out.delta = x2 - x1;
  out.relative_change = out.delta.norm(2, -1) / x1.norm(2, -1).clamp_min(1e-300);
  out.cosine = (x1 * x2).sum(-1) / (x1.norm(2, -1) * x2.norm(2, -1)).clamp_min(1e-300);
  std::vector<torch::Tensor> parts;
  for (int l = static_cast<int>(args.layer1) + 1; l <= args.layer2; ++l) {
    parts.push_back(f64(cache[hooks::attn_out(l)]));
    out.labels.push_back(fmt::format("{}_attn_out", l));
    if (c.has_mlp()) {
      parts.push_back(f64(cache[hooks::mlp_out(l)]));
      out.labels.push_back(fmt::format("{}_mlp_out", l));
    }
  }
  out.parts = torch::stack(parts);
  return out;
}

FeatureAttribution ResidualTool::feature_attribution(const FeatureAttributionArgs& args) {
  note_call(args);
  auto& m = model();
  const auto& c = m.config();
  constexpr auto name = FeatureAttributionArgs::method;
  const auto ids = batch_of_tokens(args.tokens, name);
  const int64_t read = position(args.position, ids.size(1), name, "position");
  if (args.target.has_value() == args.metric.has_value())
    throw Error(fmt::format("{}: give a target token or a metric (one of them)", name));
  if (args.target) check_token(m, *args.target, name, "target");
  Metric metric;
  if (args.metric) {
    torch::NoGradGuard no_grad;
    metric =
        parse_metric(*args.metric, m, {.tokens = ids, .reference_logits = m.forward(ids), .position = read}).metric;
  }
  const bool integrated = args.method_used == AttributionMethod::IntegratedGradients;
  if (integrated && (args.steps < 1 || args.steps > 10000))
    throw Error(fmt::format("{}: steps must be in 1..10000", name));

  // The input embeddings as the model computes them: hook_embed, plus hook_pos_embed with learned positions.
  const bool learned_positions = c.positional_embedding == PositionalEmbedding::Learned;
  std::vector<std::string> input_points = {hooks::embed()};
  if (learned_positions) input_points.push_back(hooks::pos_embed());
  torch::Tensor embed, pos_embed, base;  // base: the baseline's token embeddings (zeros for the zero baseline)
  {
    torch::NoGradGuard no_grad;
    auto [logits, cache] = m.run_with_cache(ids, NameFilter{input_points});
    embed = cache[hooks::embed()];
    if (learned_positions) pos_embed = cache[hooks::pos_embed()];
    if (args.baseline.token) {
      if (*args.baseline.token < 0 || *args.baseline.token >= c.d_vocab)
        throw Error(fmt::format("{}: baseline token {} is not in the vocabulary (0..{})", name, *args.baseline.token,
                                c.d_vocab - 1));
      auto [unused, base_cache] = m.run_with_cache(torch::full_like(ids, *args.baseline.token),
                                                   NameFilter{std::vector<std::string>{hooks::embed()}});
      base = base_cache[hooks::embed()];
    } else {
      base = torch::zeros_like(embed);
    }
  }
  // Positional embeddings are on the path only from the zero baseline (a token baseline keeps them).
  const bool positions_on_path = learned_positions && !args.baseline.token;
  // The target's logit at the point alpha of the straight path from the baseline to the input, and its gradient
  // with respect to the path's embeddings, times (input - baseline), summed over d_model.
  auto logit_and_gradients = [&](double alpha, bool with_gradient) {
    auto path_embed = (base + alpha * (embed - base)).detach().requires_grad_(with_gradient);
    torch::Tensor path_pos;
    NamedHooks replace = {{hooks::embed(), [&](const torch::Tensor&) { return path_embed; }}};
    if (positions_on_path) {
      path_pos = (pos_embed * alpha).detach().requires_grad_(with_gradient);
      replace.emplace_back(hooks::pos_embed(), [&](const torch::Tensor&) { return path_pos; });
    }
    torch::AutoGradMode grad(with_gradient);
    auto logits = m.run_with_hooks(ids, replace);
    auto logit = metric ? metric(logits) : logits.select(1, read).select(1, *args.target);  // [batch]
    torch::Tensor gradient;
    if (with_gradient) {
      logit.sum().backward();
      gradient = (path_embed.grad() * (embed - base)).sum(-1);
      if (positions_on_path) gradient = gradient + (path_pos.grad() * pos_embed).sum(-1);
    }
    return std::pair{logit.detach().to(torch::kFloat64).cpu(),
                     gradient.defined() ? gradient.to(torch::kFloat64).cpu() : torch::Tensor()};
  };
  FeatureAttribution out;
  out.method = args.method_used;
  out.target = args.target;
  out.metric = args.metric.value_or("");
  out.position = read;
  out.steps = integrated ? args.steps : 1;
  out.logit = logit_and_gradients(1.0, false).first;
  out.baseline_logit = logit_and_gradients(0.0, false).first;
  if (integrated) {
    // ∫₀¹ ∇f(αx)·x dα by Gauss-Legendre quadrature in t with α = t⁵ (dα = 5t⁴ dt). Near α = 0 the norms stop being
    // scale invariant (‖αx‖ meets their eps) and f changes fastest; the substitution crowds the nodes there, where a
    // uniform rule (or Gauss-Legendre in α itself) of 64 points misses up to a quarter of the integral on pre-norm
    // models. The result's completeness gap says how well it did.
    // (From a token baseline the norms' input never nears zero and the plain rule, p = 1, is the right one.)
    out.attributions = torch::zeros({ids.size(0), ids.size(1)}, torch::kFloat64);
    const double p = args.baseline.token ? 1 : 5;
    for (const auto& [t, weight] : gauss_legendre_on_unit_interval(static_cast<int>(args.steps)))
      out.attributions += weight * p * std::pow(t, p - 1) * logit_and_gradients(std::pow(t, p), true).second;
  } else {
    out.attributions = logit_and_gradients(1.0, true).second;
  }
  return out;
}

}  // namespace arrakis
