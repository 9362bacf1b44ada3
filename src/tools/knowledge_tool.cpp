#include "arrakis/tools/knowledge_tool.hpp"

#include <fmt/format.h>

#include "arrakis/error.hpp"
#include "arrakis/hooks/hook_catalogue.hpp"
#include "arrakis/model/hooked_transformer.hpp"
#include "tools/tool_inputs.hpp"

namespace arrakis {

using namespace tool_inputs;

std::vector<ToolArgument<KnowledgeProbeArgs>> KnowledgeProbeArgs::arguments() {
  using A = KnowledgeProbeArgs;
  return {argument("true_tokens", &A::true_tokens, "true statements, one per row", Need::Required),
          argument("false_tokens", &A::false_tokens, "false statements, one per row", Need::Required),
          argument("neuron", &A::neuron, "the unit's index", Need::Required),
          argument("layer", &A::layer, "with no hook: the MLP neuron's layer"),
          argument("hook", &A::hook, "any per-token hook point (default: blocks.{layer}.mlp.hook_post)"),
          argument("position", &A::position, "the position read (negative: from the end)")};
}

std::vector<ToolArgument<TrainProbeArgs>> TrainProbeArgs::arguments() {
  using A = TrainProbeArgs;
  return {argument("tokens", &A::tokens, "the examples, one per row", Need::Required),
          argument("labels", &A::labels, "one label per example (logistic: 0 or 1)", Need::Required),
          argument("hook", &A::hook, "the hook point probed", Need::Required),
          argument("positions", &A::positions, "the position read in each example (default: the last)"),
          argument("kind", &A::kind, "logistic (classes) or linear (values)"),
          argument("seed", &A::seed, "the train/validation/test split and the control's shuffle"),
          argument("control", &A::control, "also fit the shuffled-label control")};
}

std::vector<ToolArgument<ProbeLayersArgs>> ProbeLayersArgs::arguments() {
  using A = ProbeLayersArgs;
  return {argument("tokens", &A::tokens, "the examples, one per row", Need::Required),
          argument("labels", &A::labels, "one label per example (logistic: 0 or 1)", Need::Required),
          argument("point", &A::point, "the per-layer point, by TransformerLens' short name"),
          argument("positions", &A::positions, "the position read in each example (default: the last)"),
          argument("kind", &A::kind, "logistic (classes) or linear (values)"),
          argument("seed", &A::seed, "the split and the control's shuffle")};
}

std::vector<ToolArgument<PolysemanticScoreArgs>> PolysemanticScoreArgs::arguments() {
  using A = PolysemanticScoreArgs;
  return {argument("layer", &A::layer, "the MLP's layer", Need::Required),
          argument("tokens", &A::tokens, "the contexts (or give dataset)"),
          argument("dataset", &A::dataset, "a stored activation dataset whose tokens are used"),
          argument("k_neighbors", &A::k_neighbors, "top activations per neuron")};
}

ToolDescription KnowledgeTool::describe() {
  return {
      "what activations know: one unit on true vs false statements, linear probes (every layer, with a control "
      "task), and MLP neurons' polysemanticity",
      {method<&KnowledgeTool::knowledge_probe>(), method<&KnowledgeTool::train_probe>(),
       method<&KnowledgeTool::probe_layers>(), method<&KnowledgeTool::polysemantic_score>()}};
}

nlohmann::json KnowledgeProbeResult::to_json() const {
  return {{"hook", hook}, {"neuron", neuron}, {"position", position}, {"test", test.to_json()}};
}

nlohmann::json PolysemanticScores::to_json() const {
  auto s = scores.to(torch::kFloat64).contiguous();
  nlohmann::json values = nlohmann::json::array();
  for (int64_t i = 0; i < s.numel(); ++i) {
    const double v = s.data_ptr<double>()[i];
    values.push_back(std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v));
  }
  return {{"layer", layer},
          {"k_neighbors", k_neighbors},
          {"residual_hook", residual_hook},
          {"most_polysemantic", most_polysemantic},
          {"least_polysemantic", least_polysemantic},
          {"scores", values}};
}

namespace {

torch::Tensor knowledge_labels(const std::vector<int64_t>& labels, int64_t n, std::string_view method) {
  if (static_cast<int64_t>(labels.size()) != n)
    throw Error(fmt::format("{}: argument labels has {} values for {} examples", method, labels.size(), n));
  return torch::tensor(labels, torch::kInt64);
}

}  // namespace

KnowledgeProbeResult KnowledgeTool::knowledge_probe(const KnowledgeProbeArgs& args) {
  note_call(args);
  constexpr auto name = KnowledgeProbeArgs::method;
  auto& m = model();
  std::string hook = args.hook;
  if (hook.empty()) {
    check_layer(m.config(), args.layer, name);
    if (!m.config().has_mlp())
      throw Error(fmt::format("{}: {} has no MLP neurons: give a hook", name, m.config().model_name));
    hook = hooks::mlp_post(static_cast<int>(args.layer));
  }
  auto read = [&](const torch::Tensor& tokens, const char* argument) {
    torch::Tensor ids;
    try {
      ids = batch_of_tokens(tokens, name);
    } catch (const Error& e) {
      throw Error(fmt::format("{} (argument {})", e.what(), argument));
    }
    const int64_t p = position(args.position, ids.size(1), name, "position");
    auto a = activations_at_positions(m, ids, hook, std::vector<int64_t>(static_cast<std::size_t>(ids.size(0)), p));
    if (args.neuron < 0 || args.neuron >= a.size(1))
      throw Error(fmt::format("{}: neuron {} is not a unit of {} (0..{})", name, args.neuron, hook, a.size(1) - 1));
    return a.select(1, args.neuron).contiguous();
  };
  KnowledgeProbeResult out;
  out.hook = hook;
  out.neuron = args.neuron;
  out.position = args.position;
  out.true_activations = read(args.true_tokens, "true_tokens");
  out.false_activations = read(args.false_tokens, "false_tokens");
  const auto* t = out.true_activations.data_ptr<double>();
  const auto* f = out.false_activations.data_ptr<double>();
  out.test = test_hypothesis({t, static_cast<std::size_t>(out.true_activations.numel())},
                             {f, static_cast<std::size_t>(out.false_activations.numel())});
  return out;
}

ProbeOnHook KnowledgeTool::train_probe(const TrainProbeArgs& args) {
  note_call(args);
  constexpr auto name = TrainProbeArgs::method;
  if (args.seed < 0) throw Error(fmt::format("{}: seed {} is negative", name, args.seed));
  const auto ids = batch_of_tokens(args.tokens, name);
  const auto labels = knowledge_labels(args.labels, ids.size(0), name);
  const auto features = activations_at_positions(model(), ids, args.hook, args.positions);
  return {args.hook,
          train_linear_probe(features, labels,
                             {.kind = args.kind, .seed = static_cast<uint64_t>(args.seed), .control = args.control})};
}

LayerProbes KnowledgeTool::probe_layers(const ProbeLayersArgs& args) {
  note_call(args);
  constexpr auto name = ProbeLayersArgs::method;
  if (args.seed < 0) throw Error(fmt::format("{}: seed {} is negative", name, args.seed));
  const auto ids = batch_of_tokens(args.tokens, name);
  const auto labels = knowledge_labels(args.labels, ids.size(0), name);
  return probe_every_layer(model(), ids, labels,
                           {.point = args.point,
                            .positions = args.positions,
                            .probe = {.kind = args.kind, .seed = static_cast<uint64_t>(args.seed)}});
}

PolysemanticScores KnowledgeTool::polysemantic_score(const PolysemanticScoreArgs& args) {
  note_call(args);
  constexpr auto name = PolysemanticScoreArgs::method;
  auto& m = model();
  const auto& c = m.config();
  check_layer(c, args.layer, name);
  if (!c.has_mlp()) throw Error(fmt::format("{}: {} has no MLP neurons", name, c.model_name));
  if (args.k_neighbors < 2) throw Error(fmt::format("{}: k_neighbors {} is below 2", name, args.k_neighbors));
  const auto tokens = tokens_or_dataset_tokens(args.tokens, args.dataset, name);
  const int layer = static_cast<int>(args.layer);
  // The residual stream the MLP reads: resid_mid, or resid_pre when attention and MLP run in parallel.
  const std::string residual = c.parallel_attn_mlp ? hooks::resid_pre(layer) : hooks::resid_mid(layer);
  const std::string post = hooks::mlp_post(layer);
  std::vector<torch::Tensor> posts, residuals;
  {
    torch::NoGradGuard no_grad;
    for (int64_t s = 0; s < tokens.size(0); s += 16) {
      auto batch = tokens.slice(0, s, std::min<int64_t>(s + 16, tokens.size(0))).to(m.device());
      auto [logits, cache] =
          m.run_with_cache(batch, NameFilter{std::vector<std::string>{post, residual}}, {.stop_at_layer = layer + 1});
      posts.push_back(cache[post].reshape({-1, c.d_mlp}).to(torch::kFloat32).cpu());
      residuals.push_back(cache[residual].reshape({-1, c.d_model}).to(torch::kFloat32).cpu());
    }
  }
  const auto a = torch::cat(posts, 0);      // [N, d_mlp]
  const auto r = torch::cat(residuals, 0);  // [N, d_model]
  const int64_t k = std::min<int64_t>(args.k_neighbors, a.size(0));
  if (k < 2) throw Error(fmt::format("{}: {} tokens are too few", name, a.size(0)));
  const auto top = std::get<1>(a.t().topk(k, 1));       // [d_mlp, k]
  auto unit = r / r.norm(2, 1, true).clamp_min(1e-12);  // [N, d_model]
  auto gathered = unit.index_select(0, top.reshape({-1})).reshape({c.d_mlp, k, c.d_model}).to(torch::kFloat64);
  // Mean pairwise cosine over the k vectors: (‖Σ v̂‖² − k) / (k (k − 1)); the distance is one minus it.
  const auto sum = gathered.sum(1);
  const auto mean_cos = (sum.pow(2).sum(1) - static_cast<double>(k)) / static_cast<double>(k * (k - 1));
  PolysemanticScores out;
  out.layer = args.layer;
  out.k_neighbors = k;
  out.residual_hook = residual;
  out.scores = 1 - mean_cos;
  const auto order = std::get<1>(out.scores.sort(0, /*descending=*/true));
  const int64_t listed = std::min<int64_t>(10, c.d_mlp);
  for (int64_t i = 0; i < listed; ++i) {
    out.most_polysemantic.push_back(order[i].item<int64_t>());
    out.least_polysemantic.push_back(order[c.d_mlp - 1 - i].item<int64_t>());
  }
  return out;
}

}  // namespace arrakis
