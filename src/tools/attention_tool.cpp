#include "arrakis/tools/attention_tool.hpp"

#include <fmt/format.h>

#include "arrakis/error.hpp"
#include "arrakis/model/hooked_transformer.hpp"
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

ToolDescription AttentionTool::describe() {
  return {"attention patterns, the tokens a head attends to, and attention entropy",
          {method<&AttentionTool::attention_patterns>(), method<&AttentionTool::top_attended_ids>(),
           method<&AttentionTool::attention_entropy>()}};
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

}  // namespace arrakis
