#include "arrakis/tools/sparsity_tool.hpp"

#include <fmt/format.h>

#include "arrakis/error.hpp"
#include "arrakis/model/hooked_transformer.hpp"
#include "tools/tool_inputs.hpp"

namespace arrakis {

using namespace tool_inputs;

std::vector<ToolArgument<ComputeActivationSparsity>> ComputeActivationSparsity::arguments() {
  using A = ComputeActivationSparsity;
  return {argument("tokens", &A::tokens, "the activations on these tokens (or give dataset)"),
          argument("dataset", &A::dataset, "a stored activation dataset's folder (or give tokens)"),
          argument("hook", &A::hook, "the hook point (required with tokens)"),
          argument("rule", &A::rule, "firing: a > ε (positive) or |a| > ε (magnitude); auto by the hook's name"),
          argument("epsilon", &A::epsilon, "the firing threshold ε"),
          argument("dense_fraction", &A::dense_fraction, "units firing on more than this fraction are dense")};
}

std::vector<ToolArgument<FindPolysemanticNeurons>> FindPolysemanticNeurons::arguments() {
  using A = FindPolysemanticNeurons;
  return {argument("hook", &A::hook, "the hook point (required with tokens)"),
          argument("tokens", &A::tokens, "the activations on these tokens (or give dataset)"),
          argument("dataset", &A::dataset, "a stored activation dataset's folder (or give tokens)"),
          argument("top_k", &A::top_k, "top activations per unit"),
          argument("window", &A::window, "tokens of context each side"),
          argument("n_listed", &A::n_listed, "how many of the most polysemantic units are listed with contexts")};
}

std::vector<ToolArgument<PruneNetwork>> PruneNetwork::arguments() {
  using A = PruneNetwork;
  return {argument("threshold", &A::threshold, "prune neurons firing on fewer than this fraction of tokens",
                   Need::Required),
          argument("tokens", &A::tokens, "measure firing and loss on these tokens (or give dataset)"),
          argument("dataset", &A::dataset, "a stored activation dataset whose tokens are used"),
          argument("metric", &A::metric, "what is reported before and after: loss (mean next-token cross-entropy)")};
}

ToolDescription SparsityTool::describe() {
  return {
      "how sparsely a hook point's units fire over many tokens, their top activating contexts and "
      "polysemanticity, and pruning rarely firing MLP neurons under a guard",
      {method<&SparsityTool::compute_activation_sparsity>(), method<&SparsityTool::find_polysemantic_neurons>(),
       method<&SparsityTool::prune_network>()}};
}

SparsityStatistics SparsityTool::compute_activation_sparsity(const ComputeActivationSparsity& args) {
  note_call(args);
  const auto data = activation_data(model(), args.tokens, args.dataset, args.hook, ComputeActivationSparsity::method);
  return activation_sparsity(data, {.rule = args.rule, .epsilon = args.epsilon, .dense_fraction = args.dense_fraction});
}

PolysemanticUnits SparsityTool::find_polysemantic_neurons(const FindPolysemanticNeurons& args) {
  note_call(args);
  const auto data = activation_data(model(), args.tokens, args.dataset, args.hook, FindPolysemanticNeurons::method);
  return polysemantic_units(data, &model(), {.top_k = args.top_k, .window = args.window, .n_listed = args.n_listed});
}

PrunedNetwork SparsityTool::prune_network(const PruneNetwork& args) {
  note_call(args);
  constexpr auto name = PruneNetwork::method;
  if (args.metric != "loss")
    throw Error(
        fmt::format("{}: metric '{}' is not supported (loss: mean next-token cross-entropy)", name, args.metric));
  const auto tokens = tokens_or_dataset_tokens(args.tokens, args.dataset, name);
  return arrakis::prune_network(model(), tokens, {.threshold = args.threshold});
}

}  // namespace arrakis
