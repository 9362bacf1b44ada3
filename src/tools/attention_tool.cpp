#include "arrakis/tools/attention_tool.hpp"

#include <fmt/format.h>

#include "arrakis/error.hpp"
#include "arrakis/model/hooked_transformer.hpp"
#include "arrakis/util/seeded_generator.hpp"
#include "tools/tool_inputs.hpp"

namespace arrakis {

using namespace tool_inputs;

std::vector<ToolArgument<AttentionPatternsArgs>> AttentionPatternsArgs::arguments() {
  using A = AttentionPatternsArgs;
  return {argument("tokens", &A::tokens, "the input", Need::Required),
          argument("layer", &A::layer, "the head's layer", Need::Required),
          argument("head", &A::head, "the head's index in its layer", Need::Required)};
}

std::vector<ToolArgument<TopAttendedIdsArgs>> TopAttendedIdsArgs::arguments() {
  using A = TopAttendedIdsArgs;
  return {argument("tokens", &A::tokens, "the input", Need::Required),
          argument("layer", &A::layer, "the head's layer", Need::Required),
          argument("head", &A::head, "the head's index in its layer", Need::Required),
          argument("num_tokens", &A::num_tokens, "how many key positions to list"),
          argument("query", &A::query, "the attending position (negative: from the end)")};
}

std::vector<ToolArgument<AttentionEntropyArgs>> AttentionEntropyArgs::arguments() {
  return {argument("tokens", &AttentionEntropyArgs::tokens, "the input", Need::Required)};
}

std::vector<ToolArgument<AblateHeadArgs>> AblateHeadArgs::arguments() {
  using A = AblateHeadArgs;
  return {argument("layer", &A::layer, "the head's layer", Need::Required),
          argument("head", &A::head, "the head's index in its layer", Need::Required),
          argument("how", &A::how, "zero, the head's mean z over the tokens, or z resampled from another sequence"),
          argument("tokens", &A::tokens, "mean / resample: the sequences the replacement comes from; the effect"),
          argument("seed", &A::seed, "resample: the seed of the shuffle")};
}

std::vector<ToolArgument<MergeHeadsArgs>> MergeHeadsArgs::arguments() {
  using A = MergeHeadsArgs;
  return {argument("layer", &A::layer, "the heads' layer", Need::Required),
          argument("head1", &A::head1, "the first head", Need::Required),
          argument("head2", &A::head2, "the second head", Need::Required),
          argument("alpha", &A::alpha, "the first head's weight in the shared pattern"),
          argument("tokens", &A::tokens, "the effect on these tokens")};
}

ToolDescription AttentionTool::describe() {
  return {"attention patterns, the tokens a head attends to, attention entropy, and ablating or merging heads",
          {method<&AttentionTool::attention_patterns>(), method<&AttentionTool::top_attended_ids>(),
           method<&AttentionTool::attention_entropy>(), method<&AttentionTool::ablate_head>(),
           method<&AttentionTool::merge_heads>()}};
}

nlohmann::json InterventionEffect::to_json() const {
  return {
      {"clean_loss", clean_loss}, {"loss", loss}, {"max_abs_logit_change", logit_change.abs().max().item<double>()}};
}

nlohmann::json HeadIntervention::to_json() const {
  nlohmann::json out = {{"intervention", description}, {"active", guard.size() > 0}};
  if (effect) out["effect"] = effect->to_json();
  return out;
}

NamedTensors HeadIntervention::tensors() const {
  NamedTensors out;
  if (effect) out.emplace_back("logit_change", effect->logit_change);
  if (replacement.defined()) out.emplace_back("mean_z", replacement);
  return out;
}

nlohmann::json AttentionPatterns::to_json() const { return {{"head", head}, {"shape", pattern.sizes().vec()}}; }

nlohmann::json TopAttendedIds::to_json() const {
  nlohmann::json sequences = nlohmann::json::array();
  for (const auto& row : top) {
    nlohmann::json entries = nlohmann::json::array();
    for (const auto& t : row)
      entries.push_back({{"position", t.position}, {"id", t.id}, {"text", t.text}, {"weight", t.weight}});
    sequences.push_back(entries);
  }
  return {{"head", head}, {"query", query}, {"top", sequences}};
}

NamedTensors TopAttendedIds::tensors() const {
  const int64_t batch = static_cast<int64_t>(top.size()), k = top.empty() ? 0 : static_cast<int64_t>(top[0].size());
  auto positions = torch::empty({batch, k}, torch::kLong), ids = torch::empty({batch, k}, torch::kLong);
  auto weights = torch::empty({batch, k}, torch::kFloat64);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < k; ++i) {
      const auto& t = top[static_cast<size_t>(b)][static_cast<size_t>(i)];
      positions[b][i] = t.position;
      ids[b][i] = t.id;
      weights[b][i] = t.weight;
    }
  return {{"positions", positions}, {"ids", ids}, {"weights", weights}};
}

nlohmann::json AttentionEntropy::to_json() const {
  nlohmann::json rows = nlohmann::json::array();
  auto e = entropy.contiguous();
  for (int64_t l = 0; l < e.size(0); ++l)
    rows.push_back(std::vector<double>(e[l].data_ptr<double>(), e[l].data_ptr<double>() + e.size(1)));
  return {{"entropy", rows}, {"unit", "nats"}};
}

namespace {

// One head's pattern [batch, query, key] in float64 on the CPU.
torch::Tensor head_pattern(HookedTransformer& model, const torch::Tensor& ids, const Head& head) {
  auto [logits, cache] = model.run_with_cache(ids, NameFilter{std::vector<std::string>{hooks::pattern(head.layer)}});
  return cache[hooks::pattern(head.layer)].select(1, head.head).to(torch::kFloat64).cpu();
}

Head checked_head(const ModelConfig& c, int64_t layer, int64_t head, std::string_view method) {
  check_layer(c, layer, method);
  if (head < 0 || head >= c.n_heads)
    throw Error(fmt::format("{}: head {} is not a head of layer {} (0..{})", method, head, layer, c.n_heads - 1));
  return Head{static_cast<int>(layer), static_cast<int>(head)};
}

}  // namespace

AttentionPatterns AttentionTool::attention_patterns(const AttentionPatternsArgs& args) {
  note_call(args);
  torch::NoGradGuard no_grad;
  const Head head = checked_head(model().config(), args.layer, args.head, AttentionPatternsArgs::method);
  return {head, head_pattern(model(), batch_of_tokens(args.tokens, AttentionPatternsArgs::method), head)};
}

TopAttendedIds AttentionTool::top_attended_ids(const TopAttendedIdsArgs& args) {
  note_call(args);
  torch::NoGradGuard no_grad;
  constexpr auto name = TopAttendedIdsArgs::method;
  const Head head = checked_head(model().config(), args.layer, args.head, name);
  const auto ids = batch_of_tokens(args.tokens, name);
  const int64_t query = position(args.query, ids.size(1), name, "query");
  if (args.num_tokens < 1) throw Error(fmt::format("{}: num_tokens must be at least 1", name));
  const auto weights = head_pattern(model(), ids, head).select(1, query);  // [batch, key]
  // Keys after the query get no attention (causal): list at most query + 1.
  const int64_t k = std::min<int64_t>(args.num_tokens, query + 1);
  auto [values, positions] = weights.index({torch::indexing::Slice(), torch::indexing::Slice(0, query + 1)}).topk(k);
  TopAttendedIds out{head, query, {}};
  for (int64_t b = 0; b < ids.size(0); ++b) {
    std::vector<AttendedToken> row;
    for (int64_t i = 0; i < k; ++i) {
      const int64_t p = positions[b][i].item<int64_t>();
      const int64_t id = ids[b][p].item<int64_t>();
      row.push_back(
          {p, id, model().has_tokenizer() ? model().to_string(torch::tensor({id})) : "", values[b][i].item<double>()});
    }
    out.top.push_back(std::move(row));
  }
  return out;
}

AttentionEntropy AttentionTool::attention_entropy(const AttentionEntropyArgs& args) {
  note_call(args);
  torch::NoGradGuard no_grad;
  auto& m = model();
  const auto ids = batch_of_tokens(args.tokens, AttentionEntropyArgs::method);
  auto [logits, cache] = m.run_with_cache(ids, hook_kinds({HookKind::Pattern}));
  std::vector<torch::Tensor> layers;
  for (int l = 0; l < m.config().n_layers; ++l) {
    const auto A = cache[hooks::pattern(l)].to(torch::kFloat64).cpu();  // [b, h, q, k]
    // 0 · log 0 = 0: the masked (future) keys add nothing.
    const auto plogp = torch::where(A > 0, A * A.log(), torch::zeros_like(A));
    layers.push_back(-plogp.sum(-1).mean(0));  // [h, q]
  }
  const auto per_position = torch::stack(layers);
  return {per_position.mean(-1), per_position};
}

namespace {

// The loss and last logits on `ids` now (with the intervention's hooks in place) against `clean_logits`.
InterventionEffect effect_on(HookedTransformer& model, const torch::Tensor& ids, const torch::Tensor& clean_logits) {
  const auto logits = model.forward(ids);
  auto last = [](const torch::Tensor& l) { return l.select(1, l.size(1) - 1).to(torch::kFloat64).cpu(); };
  return {lm_loss(clean_logits, ids).item<double>(), lm_loss(logits, ids).item<double>(),
          last(logits) - last(clean_logits)};
}

}  // namespace

HeadIntervention AttentionTool::ablate_head(const AblateHeadArgs& args) {
  note_call(args);
  torch::NoGradGuard no_grad;
  auto& m = model();
  constexpr auto name = AblateHeadArgs::method;
  const Head head = checked_head(m.config(), args.layer, args.head, name);
  torch::Tensor ids, clean_logits, z;
  if (args.tokens) {
    ids = batch_of_tokens(*args.tokens, name);
    auto [logits, cache] = m.run_with_cache(ids, NameFilter{std::vector<std::string>{hooks::z(head.layer)}});
    clean_logits = logits;
    z = cache[hooks::z(head.layer)].select(2, head.head);  // [batch, pos, d_head]
  } else if (args.how != AblationMethod::Zero) {
    throw Error(fmt::format("{}: {} ablation needs tokens to take the head's values from", name,
                            ArgumentType<AblationMethod>::to_json(args.how).get<std::string>()));
  }
  HeadIntervention out;
  const int h = head.head;
  Hook hook;
  switch (args.how) {
    case AblationMethod::Zero:
      out.description = head.label() + " zero-ablated at hook_z";
      hook = [h](const torch::Tensor& x) {
        auto y = x.clone();
        y.select(2, h).zero_();
        return y;
      };
      break;
    case AblationMethod::Mean: {
      out.description = head.label() + " mean-ablated at hook_z (its mean over the tokens' batch and positions)";
      out.replacement = z.mean(std::vector<int64_t>{0, 1});
      hook = [h, mean = out.replacement](const torch::Tensor& x) {
        auto y = x.clone();
        y.select(2, h).copy_(mean.to(y.dtype()).expand_as(y.select(2, h)));
        return y;
      };
      break;
    }
    case AblationMethod::Resample: {
      const int64_t n = z.size(0);
      if (n < 2) throw Error(fmt::format("{}: resample ablation needs a batch of at least 2 sequences", name));
      // Row i of a run takes the head's z of the sequence after i's in a seeded shuffle: never its own.
      auto generator = seeded_generator(static_cast<uint64_t>(args.seed));
      const auto order = torch::randperm(n, generator, torch::kLong);
      auto source = torch::empty({n}, torch::kLong);
      for (int64_t i = 0; i < n; ++i) source[order[i].item<int64_t>()] = order[(i + 1) % n];
      out.description = head.label() + " resample-ablated at hook_z (each sequence takes another's)";
      hook = [h, z, source, name](const torch::Tensor& x) {
        if (x.size(1) > z.size(1))
          throw Error(
              fmt::format("{}: the resampled values cover {} positions, the run has {}", name, z.size(1), x.size(1)));
        auto rows = source.index({torch::arange(x.size(0), torch::kLong) % source.size(0)});
        auto y = x.clone();
        y.select(2, h).copy_(z.index_select(0, rows.to(z.device())).narrow(1, 0, x.size(1)).to(y.dtype()));
        return y;
      };
      break;
    }
  }
  out.guard = m.add_hook(hooks::z(head.layer), hook);
  if (args.tokens) out.effect = effect_on(m, ids, clean_logits);
  return out;
}

HeadIntervention AttentionTool::merge_heads(const MergeHeadsArgs& args) {
  note_call(args);
  torch::NoGradGuard no_grad;
  auto& m = model();
  constexpr auto name = MergeHeadsArgs::method;
  const Head first = checked_head(m.config(), args.layer, args.head1, name);
  const Head second = checked_head(m.config(), args.layer, args.head2, name);
  if (first == second) throw Error(fmt::format("{}: head1 and head2 are the same head", name));
  if (!(args.alpha >= 0.0 && args.alpha <= 1.0)) throw Error(fmt::format("{}: alpha must be in [0, 1]", name));
  torch::Tensor ids, clean_logits;
  if (args.tokens) {
    ids = batch_of_tokens(*args.tokens, name);
    clean_logits = m.forward(ids);
  }
  HeadIntervention out;
  out.description =
      fmt::format("{} and {} attend with {} A1 + {} A2", first.label(), second.label(), args.alpha, 1.0 - args.alpha);
  const int h1 = first.head, h2 = second.head;
  const double alpha = args.alpha;
  out.guard = m.add_hook(hooks::pattern(first.layer), [h1, h2, alpha](const torch::Tensor& pattern) {
    auto y = pattern.clone();
    const auto merged = alpha * pattern.select(1, h1) + (1.0 - alpha) * pattern.select(1, h2);
    y.select(1, h1).copy_(merged);
    y.select(1, h2).copy_(merged);
    return y;
  });
  if (args.tokens) out.effect = effect_on(m, ids, clean_logits);
  return out;
}

}  // namespace arrakis
