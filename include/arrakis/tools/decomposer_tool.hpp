#pragma once
// The `decomposer` tool (the seeds' Residual Decomposer): the residual-space directions an MLP reads and writes, and
// the finest decomposition of the residual stream (embeddings, every head, every neuron, biases) ranked by how much
// of it each part makes up. Definitions in docs/tools.md.
#include <torch/types.h>

#include <string>
#include <vector>

#include "arrakis/tools/tool_registry.hpp"

namespace arrakis {

struct MlpBasisArgs {
  int64_t layer = 0;
  int64_t top_k = 10;
  static constexpr std::string_view method = "mlp_basis";
  static constexpr std::string_view help =
      "the singular directions in residual space an MLP reads (W_in, W_gate) and writes (W_out), with singular values";
  static std::vector<ToolArgument<MlpBasisArgs>> arguments();
};

struct MlpBasis {
  int64_t layer = 0;
  torch::Tensor read_directions, read_values;    // [top_k, d_model] (rows), [top_k]: left singular vectors of W_in
  torch::Tensor gate_directions, gate_values;    // gated MLPs: the same for W_gate; undefined otherwise
  torch::Tensor write_directions, write_values;  // right singular vectors of W_out [top_k, d_model], [top_k]
  nlohmann::json to_json() const;
  NamedTensors tensors() const;
};

struct DecomposeResidualArgs {
  torch::Tensor tokens;
  int64_t layer = 0;
  int64_t top_k = 10;
  int64_t position = -1;
  static constexpr std::string_view method = "decompose_residual";
  static constexpr std::string_view help =
      "resid_post of a layer at one position split into embeddings, every head, every neuron and the biases, ranked "
      "by |c·r| / ‖r‖²";
  static std::vector<ToolArgument<DecomposeResidualArgs>> arguments();
};

struct RankedComponent {
  std::string label;
  double contribution = 0;  // c·r / ‖r‖², mean over the batch
};

struct ResidualDecomposition {
  int64_t layer = 0, position = 0;
  std::vector<std::string> labels;
  torch::Tensor components;          // [n, batch, d_model] at the position
  torch::Tensor residual;            // [batch, d_model]
  torch::Tensor contributions;       // [n, batch]: c·r / ‖r‖² (they sum to 1)
  std::vector<RankedComponent> top;  // the top_k by |contribution| (mean over the batch)
  nlohmann::json to_json() const;
  NamedTensors tensors() const;
};

class DecomposerTool : public BaseInterpretabilityTool {
 public:
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  static ToolDescription describe();
  std::string description() const override { return describe().description; }

  MlpBasis mlp_basis(const MlpBasisArgs& args);
  ResidualDecomposition decompose_residual(const DecomposeResidualArgs& args);
};

}  // namespace arrakis
