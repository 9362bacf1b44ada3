#include "arrakis/tools/composer_tool.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "arrakis/analysis/circuits.hpp"
#include "arrakis/analysis/metrics.hpp"
#include "arrakis/analysis/path_patching.hpp"
#include "arrakis/error.hpp"
#include "arrakis/model/hooked_transformer.hpp"
#include "tools/tool_inputs.hpp"

namespace arrakis {

std::vector<ToolArgument<HeadCompositionArgs>> HeadCompositionArgs::arguments() {
  using A = HeadCompositionArgs;
  return {argument("head1", &A::head1, "the writing head (L0H2 or 0.2)", Need::Required),
          argument("head2", &A::head2, "the reading head, in a later layer", Need::Required)};
}

std::vector<ToolArgument<VirtualWeightsArgs>> VirtualWeightsArgs::arguments() {
  using A = VirtualWeightsArgs;
  return {argument("head1", &A::head1, "the writing head", Need::Required),
          argument("head2", &A::head2, "the reading head, in a later layer", Need::Required),
          argument("kind", &A::kind, "which of head2's inputs reads head1: queries, keys or values")};
}

std::vector<ToolArgument<AttentionPathPatchingArgs>> AttentionPathPatchingArgs::arguments() {
  using A = AttentionPathPatchingArgs;
  return {argument("clean", &A::clean, "the clean prompts' ids (1,2,3;4,5,6)", Need::Required),
          argument("corrupted", &A::corrupted, "the corrupted prompts' ids, the same shape", Need::Required),
          argument("src_head", &A::src_head, "the sending head", Need::Required),
          argument("dest_head", &A::dest_head, "the receiving head, in a later layer", Need::Required),
          argument("via", &A::via, "which input of dest_head receives: queries, keys or values"),
          argument("metric", &A::metric, "logit-diff:A,B | logprob:T | loss | kl", Need::Required)};
}

ToolDescription ComposerTool::describe() {
  return {
      "Q-, K- and V-composition between heads of different layers, their virtual weights, and path patching "
      "between them",
      {method<&ComposerTool::head_composition>(), method<&ComposerTool::virtual_weights>(),
       method<&ComposerTool::attention_path_patching>()}};
}

nlohmann::json PathPatchingEffect::to_json() const {
  return {{"src_head", src_head},   {"dest_head", dest_head},  {"via", ArgumentType<ReadVia>::to_json(via)},
          {"metric", metric},       {"patched", patched},      {"clean", clean},
          {"corrupted", corrupted}, {"normalized", normalized}};
}

nlohmann::json HeadComposition::to_json() const {
  return {{"head1", head1}, {"head2", head2}, {"q", q}, {"k", k}, {"v", v}};
}

nlohmann::json VirtualWeights::to_json() const {
  auto s = singular_values.contiguous();
  return {{"head1", head1},
          {"head2", head2},
          {"kind", ArgumentType<ReadVia>::to_json(kind)},
          {"shape", {product.ldim(), product.rdim()}},
          {"inner_dimension", product.mdim()},
          {"norm", norm},
          {"composition_score", composition_score},
          {"singular_values", std::vector<double>(s.data_ptr<double>(), s.data_ptr<double>() + s.numel())}};
}

NamedTensors VirtualWeights::tensors() const {
  return {{"A", product.A()}, {"B", product.B()}, {"singular_values", singular_values}};
}

namespace {

struct Pair {
  FactoredMatrix ov1, qk2, ov2;
};

Pair circuits_of(const HookedTransformer& model, const Head& head1, const Head& head2, std::string_view method) {
  const auto& c = model.config();
  tool_inputs::check_head(c, head1, method, "head1");
  tool_inputs::check_head(c, head2, method, "head2");
  if (head1.layer >= head2.layer)
    throw Error(
        fmt::format("{}: head1 {} must be in an earlier layer than head2 {}: a head reads only what earlier "
                    "layers wrote",
                    method, head1.label(), head2.label()));
  auto pick = [](const FactoredMatrix& m, const Head& h) {
    auto one = m.select(0, h.layer).select(0, h.head);
    return FactoredMatrix(one.A().to(torch::kFloat64), one.B().to(torch::kFloat64));
  };
  const auto ov = ov_circuits(model);
  return {pick(ov, head1), pick(qk_circuits(model), head2), pick(ov, head2)};
}

FactoredMatrix reader(const Pair& p, ReadVia kind) {
  return kind == ReadVia::Q ? p.qk2 : kind == ReadVia::K ? p.qk2.transpose() : p.ov2;
}

}  // namespace

HeadComposition ComposerTool::head_composition(const HeadCompositionArgs& args) {
  note_call(args);
  torch::NoGradGuard no_grad;
  const auto pair = circuits_of(model(), args.head1, args.head2, HeadCompositionArgs::method);
  auto score = [&](ReadVia kind) { return composition_scores(pair.ov1, reader(pair, kind)).item<double>(); };
  return {args.head1, args.head2, score(ReadVia::Q), score(ReadVia::K), score(ReadVia::V)};
}

VirtualWeights ComposerTool::virtual_weights(const VirtualWeightsArgs& args) {
  note_call(args);
  torch::NoGradGuard no_grad;
  const auto pair = circuits_of(model(), args.head1, args.head2, VirtualWeightsArgs::method);
  const auto right = reader(pair, args.kind);
  const auto product = pair.ov1.matmul(right);
  const double norm = product.norm().item<double>();
  const double score = norm / (pair.ov1.norm().item<double>() * right.norm().item<double>());
  return {args.head1, args.head2, args.kind, product, norm, score, product.svd().S.contiguous()};
}

PathPatchingEffect ComposerTool::attention_path_patching(const AttentionPathPatchingArgs& args) {
  note_call(args);
  torch::NoGradGuard no_grad;
  auto& m = model();
  const auto& c = m.config();
  constexpr auto name = AttentionPathPatchingArgs::method;
  tool_inputs::check_head(c, args.src_head, name, "src_head");
  tool_inputs::check_head(c, args.dest_head, name, "dest_head");
  if (args.src_head.layer >= args.dest_head.layer)
    throw Error(fmt::format("{}: src_head {} must be in an earlier layer than dest_head {}", name,
                            args.src_head.label(), args.dest_head.label()));
  const auto clean = tool_inputs::batch_of_tokens(args.clean, name);
  const auto corrupted = tool_inputs::batch_of_tokens(args.corrupted, name);
  if (clean.sizes() != corrupted.sizes())
    throw Error(fmt::format("{}: clean and corrupted prompts differ in shape ([{}] and [{}])", name,
                            fmt::join(clean.sizes(), ", "), fmt::join(corrupted.sizes(), ", ")));
  const auto parsed = parse_metric(args.metric, m, {.tokens = clean, .reference_logits = m.forward(clean)});
  // A key/value input of a grouped-query model belongs to the key/value head the query head reads.
  const int64_t receiver_head =
      args.via == ReadVia::Q ? args.dest_head.head : args.dest_head.head / (c.n_heads / c.kv_heads());
  const auto input = args.via == ReadVia::Q   ? PathReceiver::Input::Q
                     : args.via == ReadVia::K ? PathReceiver::Input::K
                                              : PathReceiver::Input::V;
  const auto result = path_patching(m, {.clean_tokens = clean, .corrupted_tokens = corrupted}, parsed.metric,
                                    {.receivers = {{args.dest_head.layer, receiver_head, input}}});
  PathPatchingEffect out{args.src_head, args.dest_head, args.via, args.metric};
  out.patched = result.values[args.src_head.layer][args.src_head.head].item<double>();
  out.clean = result.clean_metric;
  out.corrupted = result.corrupted_metric;
  out.normalized = (out.patched - out.corrupted) / (out.clean - out.corrupted);
  return out;
}

}  // namespace arrakis
