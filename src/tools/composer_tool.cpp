#include "arrakis/tools/composer_tool.hpp"

#include <fmt/format.h>

#include "arrakis/analysis/circuits.hpp"
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

ToolDescription ComposerTool::describe() {
  return {"Q-, K- and V-composition between heads of different layers, and their virtual weights",
          {method<&ComposerTool::head_composition>(), method<&ComposerTool::virtual_weights>()}};
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

}  // namespace arrakis
