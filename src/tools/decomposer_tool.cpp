#include "arrakis/tools/decomposer_tool.hpp"

#include <fmt/format.h>

#include "arrakis/analysis/residual_stream.hpp"
#include "arrakis/error.hpp"
#include "arrakis/model/hooked_transformer.hpp"
#include "tools/tool_inputs.hpp"

namespace arrakis {

using namespace tool_inputs;
using torch::indexing::Slice;

std::vector<ToolArgument<MlpBasisArgs>> MlpBasisArgs::arguments() {
  using A = MlpBasisArgs;
  return {argument("layer", &A::layer, "the MLP's layer", Need::Required),
          argument("top_k", &A::top_k, "how many singular directions")};
}

std::vector<ToolArgument<DecomposeResidualArgs>> DecomposeResidualArgs::arguments() {
  using A = DecomposeResidualArgs;
  return {argument("tokens", &A::tokens, "the input", Need::Required),
          argument("layer", &A::layer, "decompose blocks.{layer}.hook_resid_post", Need::Required),
          argument("top_k", &A::top_k, "how many components to list"),
          argument("position", &A::position, "the position (negative: from the end)")};
}

ToolDescription DecomposerTool::describe() {
  return {"the directions MLPs read and write, and the residual stream split into every head, neuron and bias",
          {method<&DecomposerTool::mlp_basis>(), method<&DecomposerTool::decompose_residual>()}};
}

nlohmann::json MlpBasis::to_json() const {
  nlohmann::json out = {{"layer", layer},
                        {"read_singular_values", to_doubles(read_values)},
                        {"write_singular_values", to_doubles(write_values)}};
  if (gate_values.defined()) out["gate_singular_values"] = to_doubles(gate_values);
  return out;
}

NamedTensors MlpBasis::tensors() const {
  NamedTensors out = {{"read_directions", read_directions},
                      {"read_values", read_values},
                      {"write_directions", write_directions},
                      {"write_values", write_values}};
  if (gate_values.defined()) {
    out.emplace_back("gate_directions", gate_directions);
    out.emplace_back("gate_values", gate_values);
  }
  return out;
}

nlohmann::json ResidualDecomposition::to_json() const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& c : top) list.push_back({{"label", c.label}, {"contribution", c.contribution}});
  return {{"layer", layer},
          {"position", position},
          {"components", labels.size()},
          {"top", list},
          {"reconstruction_error", (components.sum(0) - residual).abs().max().item<double>()}};
}

NamedTensors ResidualDecomposition::tensors() const {
  return {{"components", components}, {"residual", residual}, {"contributions", contributions}};
}

MlpBasis DecomposerTool::mlp_basis(const MlpBasisArgs& args) {
  note_call(args);
  torch::NoGradGuard no_grad;
  auto& m = model();
  const auto& c = m.config();
  constexpr auto name = MlpBasisArgs::method;
  check_layer(c, args.layer, name);
  if (!c.has_mlp()) throw Error(fmt::format("{}: this model has no MLPs (attention only)", name));
  if (args.top_k < 1) throw Error(fmt::format("{}: top_k must be at least 1", name));
  const auto& mlp = m.weights().blocks[args.layer].mlp;
  const int64_t k = std::min<int64_t>(args.top_k, std::min(c.d_model, c.d_mlp));
  MlpBasis out;
  out.layer = args.layer;
  // W_in, W_gate [d_model, d_mlp]: the residual directions they read are the left singular vectors.
  auto reads = [&](const torch::Tensor& W, torch::Tensor& directions, torch::Tensor& singular) {
    auto [U, S, Vh] = torch::linalg_svd(W.to(torch::kFloat64).cpu(), /*full_matrices=*/false);
    directions = U.index({Slice(), Slice(0, k)}).t().contiguous();
    singular = S.index({Slice(0, k)}).contiguous();
  };
  reads(mlp.W_in, out.read_directions, out.read_values);
  if (mlp.W_gate.defined()) reads(mlp.W_gate, out.gate_directions, out.gate_values);
  // W_out [d_mlp, d_model]: the directions it writes are the right singular vectors.
  auto [U, S, Vh] = torch::linalg_svd(mlp.W_out.to(torch::kFloat64).cpu(), /*full_matrices=*/false);
  out.write_directions = Vh.index({Slice(0, k)}).contiguous();
  out.write_values = S.index({Slice(0, k)}).contiguous();
  return out;
}

ResidualDecomposition DecomposerTool::decompose_residual(const DecomposeResidualArgs& args) {
  note_call(args);
  torch::NoGradGuard no_grad;
  auto& m = model();
  constexpr auto name = DecomposeResidualArgs::method;
  check_layer(m.config(), args.layer, name);
  if (args.top_k < 1) throw Error(fmt::format("{}: top_k must be at least 1", name));
  const auto ids = batch_of_tokens(args.tokens, name);
  const int64_t read = position(args.position, ids.size(1), name, "position");
  auto [logits, cache] = m.run_with_cache(ids);
  const int next = args.layer + 1 == m.config().n_layers ? -1 : static_cast<int>(args.layer + 1);
  auto stack = get_full_resid_decomposition(
      m, cache, {.layer = next, .expand_neurons = m.config().has_mlp(), .pos_slice = PosSlice::at(read)});
  ResidualDecomposition out;
  out.layer = args.layer;
  out.position = read;
  out.labels = stack.labels;
  out.components = stack.components.to(torch::kFloat64).cpu();  // [n, batch, d]
  out.residual = cache[hooks::resid_post(static_cast<int>(args.layer))].select(1, read).to(torch::kFloat64).cpu();
  out.contributions = (out.components * out.residual).sum(-1) / (out.residual * out.residual).sum(-1).clamp_min(1e-300);
  const auto mean = out.contributions.mean(1);
  const int64_t k = std::min<int64_t>(args.top_k, mean.size(0));
  const auto order = std::get<1>(mean.abs().topk(k));
  for (int64_t i = 0; i < k; ++i) {
    const int64_t index = order[i].item<int64_t>();
    out.top.push_back({out.labels[static_cast<size_t>(index)], mean[index].item<double>()});
  }
  return out;
}

}  // namespace arrakis
