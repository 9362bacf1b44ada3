#include "arrakis/tools/logit_tool.hpp"

#include <fmt/format.h>

#include "arrakis/analysis/direct_logit_attribution.hpp"
#include "arrakis/error.hpp"
#include "arrakis/model/hooked_transformer.hpp"
#include "tools/tool_inputs.hpp"

namespace arrakis {

using namespace tool_inputs;
using torch::indexing::Slice;

std::vector<ToolArgument<LogitAttributionArgs>> LogitAttributionArgs::arguments() {
  using A = LogitAttributionArgs;
  return {argument("tokens", &A::tokens, "the input", Need::Required),
          argument("target", &A::target, "the token whose logit is attributed", Need::Required),
          argument("wrong", &A::wrong, "attribute logit(target) - logit(wrong) instead"),
          argument("position", &A::position, "where the logit is read (negative: from the end)"),
          argument("neurons", &A::neurons, "also every MLP neuron")};
}

std::vector<ToolArgument<TrackTokenCirculationArgs>> TrackTokenCirculationArgs::arguments() {
  using A = TrackTokenCirculationArgs;
  return {argument("tokens", &A::tokens, "the input", Need::Required),
          argument("target", &A::target, "the token followed", Need::Required),
          argument("n_layers", &A::n_layers, "through the first n layers (default: all)")};
}

std::vector<ToolArgument<LayerAttributionsArgs>> LayerAttributionsArgs::arguments() {
  using A = LayerAttributionsArgs;
  return {argument("tokens", &A::tokens, "the input", Need::Required),
          argument("target", &A::target, "the token whose logit is attributed", Need::Required)};
}

std::vector<ToolArgument<LogitLensAtArgs>> LogitLensAtArgs::arguments() {
  using A = LogitLensAtArgs;
  return {
      argument("tokens", &A::tokens, "the input", Need::Required),
      argument("target", &A::target, "the token followed", Need::Required),
      argument("layer", &A::layer, "decode the stream entering this layer (n_layers: the final one)", Need::Required),
      argument("top_k", &A::top_k, "how many top tokens")};
}

ToolDescription LogitTool::describe() {
  return {"direct logit attribution of a token, and its logit, probability and rank through the layers",
          {method<&LogitTool::logit_attribution>(), method<&LogitTool::track_token_circulation>()}};
}

namespace {

// Direct logit attribution of `target` at `position`, as the `logit` tool reports it.
LogitAttribution attribute(HookedTransformer& model, const torch::Tensor& ids, int64_t target,
                           std::optional<int64_t> wrong, int64_t position, bool neurons) {
  LogitAttributionOptions options{.answer = torch::tensor(target), .position = position, .neurons = neurons};
  if (wrong) options.wrong = torch::tensor(*wrong);
  return run_direct_logit_attribution(model, ids, options);
}

// Each layer's attention and MLP rows of a direct logit attribution: [n_layers, batch] each (zeros without MLPs).
std::pair<torch::Tensor, torch::Tensor> per_layer(const HookedTransformer& model, const LogitAttribution& la) {
  const int64_t layers = model.config().n_layers, batch = la.components.size(1);
  auto attn = torch::zeros({layers, batch}, torch::kFloat64), mlp = torch::zeros({layers, batch}, torch::kFloat64);
  for (size_t i = 0; i < la.component_labels.size(); ++i) {
    const auto& label = la.component_labels[i];
    const auto row = la.components[static_cast<int64_t>(i)].to(torch::kFloat64).cpu();
    int layer = 0;
    char kind[16] = {};
    if (std::sscanf(label.c_str(), "%d_%15s", &layer, kind) != 2) continue;
    if (std::string(kind) == "attn_out") attn[layer] = row;
    if (std::string(kind) == "mlp_out") mlp[layer] = row;
  }
  return {attn, mlp};
}

// The final norm and unembedding applied to the stream entering `layer` (n_layers: the final one) at the last
// position: float64 logits [batch, vocab].
torch::Tensor lens_logits(HookedTransformer& model, const ActivationCache& cache, int layer) {
  const auto& c = model.config();
  const auto& resid = layer == c.n_layers ? cache[hooks::resid_post(layer - 1)] : cache[hooks::resid_pre(layer)];
  return model.unembed(model.ln_final(resid.select(1, resid.size(1) - 1))).to(torch::kFloat64).cpu();
}

}  // namespace

nlohmann::json TokenLogitAttribution::to_json() const {
  nlohmann::json list = nlohmann::json::array();
  const auto mean = components.to(torch::kFloat64).mean(1);
  for (size_t i = 0; i < component_labels.size(); ++i)
    list.push_back({{"label", component_labels[i]}, {"value", mean[static_cast<int64_t>(i)].item<double>()}});
  nlohmann::json out = {{"target", target},         {"position", position},
                        {"components", list},       {"heads", to_doubles(heads.to(torch::kFloat64).mean(-1))},
                        {"bias", to_doubles(bias)}, {"total", to_doubles(total)}};
  if (wrong) out["wrong"] = *wrong;
  return out;
}

NamedTensors TokenLogitAttribution::tensors() const {
  NamedTensors out = {{"components", components}, {"heads", heads}, {"bias", bias}, {"total", total}};
  if (neurons.defined()) out.emplace_back("neurons", neurons);
  return out;
}

nlohmann::json TokenCirculation::to_json() const {
  nlohmann::json rows = nlohmann::json::array();
  for (size_t i = 0; i < boundaries.size(); ++i) {
    const auto at = static_cast<int64_t>(i);
    rows.push_back({{"boundary", boundaries[i]},
                    {"logit", logits[at].mean().item<double>()},
                    {"probability", probabilities[at].mean().item<double>()},
                    {"rank", to_doubles(ranks[at])}});
  }
  return {{"target", target},
          {"boundaries", rows},
          {"attn_contributions", to_doubles(attn_contributions.mean(-1))},
          {"mlp_contributions", to_doubles(mlp_contributions.mean(-1))}};
}

NamedTensors TokenCirculation::tensors() const {
  return {{"logits", logits},
          {"probabilities", probabilities},
          {"ranks", ranks},
          {"attn_contributions", attn_contributions},
          {"mlp_contributions", mlp_contributions}};
}

nlohmann::json LayerAttributions::to_json() const {
  return {{"target", target},
          {"attn", to_doubles(attn.mean(-1))},
          {"mlp", to_doubles(mlp.mean(-1))},
          {"embeddings", embeddings.mean().item<double>()}};
}

nlohmann::json LogitLensAt::to_json() const {
  nlohmann::json out = {{"target", target},
                        {"layer", layer},
                        {"probability", to_doubles(probability)},
                        {"rank", to_doubles(rank)},
                        {"top_probs", to_doubles(top_probs)}};
  nlohmann::json ids = nlohmann::json::array();
  auto t = top_tokens.contiguous();
  for (int64_t b = 0; b < t.size(0); ++b)
    ids.push_back(std::vector<int64_t>(t[b].data_ptr<int64_t>(), t[b].data_ptr<int64_t>() + t.size(1)));
  out["top_tokens"] = ids;
  if (!top_texts.empty()) out["top_texts"] = top_texts;
  return out;
}

NamedTensors LogitLensAt::tensors() const {
  return {{"probability", probability}, {"rank", rank}, {"top_tokens", top_tokens}, {"top_probs", top_probs}};
}

TokenLogitAttribution LogitTool::logit_attribution(const LogitAttributionArgs& args) {
  note_call(args);
  torch::NoGradGuard no_grad;
  auto& m = model();
  constexpr auto name = LogitAttributionArgs::method;
  const auto ids = batch_of_tokens(args.tokens, name);
  check_token(m, args.target, name, "target");
  if (args.wrong) check_token(m, *args.wrong, name, "wrong");
  const int64_t read = position(args.position, ids.size(1), name, "position");
  auto la = attribute(m, ids, args.target, args.wrong, read, args.neurons);
  auto f64 = [](const torch::Tensor& t) { return t.defined() ? t.to(torch::kFloat64).cpu() : t; };
  return {args.target,   args.wrong,      read,         la.component_labels, f64(la.components),
          f64(la.heads), f64(la.neurons), f64(la.bias), f64(la.total)};
}

TokenCirculation LogitTool::track_token_circulation(const TrackTokenCirculationArgs& args) {
  note_call(args);
  torch::NoGradGuard no_grad;
  auto& m = model();
  const auto& c = m.config();
  constexpr auto name = TrackTokenCirculationArgs::method;
  const auto ids = batch_of_tokens(args.tokens, name);
  check_token(m, args.target, name, "target");
  const int64_t n = args.n_layers.value_or(c.n_layers);
  if (n < 1 || n > c.n_layers) throw Error(fmt::format("{}: n_layers {} is not in 1..{}", name, n, c.n_layers));
  auto [logits, cache] = m.run_with_cache(ids, hook_kinds({HookKind::ResidPre, HookKind::ResidPost}));
  TokenCirculation out;
  out.target = args.target;
  std::vector<torch::Tensor> target_logits, probabilities, ranks;
  for (int l = 0; l <= n; ++l) {
    const auto lens = lens_logits(m, cache, l);
    const auto logit = lens.select(1, args.target);
    target_logits.push_back(logit);
    probabilities.push_back(torch::softmax(lens, -1).select(1, args.target));
    ranks.push_back((lens > logit.unsqueeze(1)).sum(1));
    out.boundaries.push_back(l == c.n_layers ? "final_post" : fmt::format("{}_pre", l));
  }
  out.logits = torch::stack(target_logits);
  out.probabilities = torch::stack(probabilities);
  out.ranks = torch::stack(ranks);
  auto [attn, mlp] = per_layer(m, attribute(m, ids, args.target, std::nullopt, ids.size(1) - 1, false));
  out.attn_contributions = attn.index({Slice(0, n)});
  out.mlp_contributions = mlp.index({Slice(0, n)});
  return out;
}

LayerAttributions layer_attributions(HookedTransformer& model, const LayerAttributionsArgs& args) {
  torch::NoGradGuard no_grad;
  constexpr auto name = LayerAttributionsArgs::method;
  const auto ids = batch_of_tokens(args.tokens, name);
  check_token(model, args.target, name, "target");
  const auto la = attribute(model, ids, args.target, std::nullopt, ids.size(1) - 1, false);
  auto [attn, mlp] = per_layer(model, la);
  auto embeddings = torch::zeros({la.components.size(1)}, torch::kFloat64);
  for (size_t i = 0; i < la.component_labels.size(); ++i)
    if (la.component_labels[i] == "embed" || la.component_labels[i] == "pos_embed")
      embeddings += la.components[static_cast<int64_t>(i)].to(torch::kFloat64).cpu();
  return {args.target, attn, mlp, embeddings};
}

LogitLensAt logit_lens_at(HookedTransformer& model, const LogitLensAtArgs& args) {
  torch::NoGradGuard no_grad;
  const auto& c = model.config();
  constexpr auto name = LogitLensAtArgs::method;
  const auto ids = batch_of_tokens(args.tokens, name);
  check_token(model, args.target, name, "target");
  if (args.layer < 0 || args.layer > c.n_layers)
    throw Error(fmt::format("{}: layer {} is not in 0..{} (n_layers: the final stream)", name, args.layer, c.n_layers));
  if (args.top_k < 1) throw Error(fmt::format("{}: top_k must be at least 1", name));
  const auto point = args.layer == c.n_layers ? hooks::resid_post(static_cast<int>(c.n_layers - 1))
                                              : hooks::resid_pre(static_cast<int>(args.layer));
  auto [logits, cache] = model.run_with_cache(ids, NameFilter{std::vector<std::string>{point}});
  const auto lens = lens_logits(model, cache, static_cast<int>(args.layer));
  const auto probs = torch::softmax(lens, -1);
  LogitLensAt out;
  out.target = args.target;
  out.layer = args.layer;
  out.probability = probs.select(1, args.target).contiguous();
  out.rank = (lens > lens.select(1, args.target).unsqueeze(1)).sum(1);
  auto [top_p, top_i] = probs.topk(std::min<int64_t>(args.top_k, probs.size(1)), -1);
  out.top_probs = top_p.contiguous();
  out.top_tokens = top_i.contiguous();
  if (model.has_tokenizer())
    for (int64_t b = 0; b < top_i.size(0); ++b) {
      std::vector<std::string> texts;
      for (int64_t k = 0; k < top_i.size(1); ++k)
        texts.push_back(model.to_string(torch::tensor({top_i[b][k].item<int64_t>()})));
      out.top_texts.push_back(std::move(texts));
    }
  return out;
}

}  // namespace arrakis
