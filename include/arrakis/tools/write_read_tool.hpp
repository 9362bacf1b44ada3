#pragma once
// The `write_read` tool (the seeds' Read Write Heads): which heads of a layer write most to the residual stream,
// which read a given subspace (or another head's output), and how information moves from one position to another.
// Definitions in docs/tools.md.
#include <torch/types.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "arrakis/model/head.hpp"
#include "arrakis/tools/tool_registry.hpp"

namespace arrakis {

/// Which side of a head reads: its queries (QK's rows), its keys (QK's columns) or its values (OV's rows).
enum class ReadVia { Q, K, V };
template <>
struct EnumNames<ReadVia> {
  static constexpr std::array names{std::pair{ReadVia::Q, "q"}, std::pair{ReadVia::K, "k"}, std::pair{ReadVia::V, "v"}};
};

/// What identify_read_heads measures reading: a residual dimension (the seeds' dim_idx), a vector or subspace
/// ([d_model] or [d_model, k] columns, orthonormalised), a token's unembedding direction, or an earlier head's output.
struct ReadDirection {
  enum class Kind { Dimension, Vector, Token, HeadOutput };
  Kind kind = Kind::Dimension;
  int64_t index = 0;    // Dimension: the residual dimension; Token: the token id
  torch::Tensor basis;  // Vector
  Head head;            // HeadOutput

  static ReadDirection dimension(int64_t d) { return {Kind::Dimension, d, {}, {}}; }
  static ReadDirection token(int64_t id) { return {Kind::Token, id, {}, {}}; }
  static ReadDirection vector(torch::Tensor v) { return {Kind::Vector, 0, std::move(v), {}}; }
  static ReadDirection head_output(Head h) { return {Kind::HeadOutput, 0, {}, h}; }
  /// "5" or "dim:5", "token:464", "head:0.2" or "head:L0H2".
  static ReadDirection parse(std::string_view text);
  nlohmann::json to_json() const;
};
template <>
struct ArgumentType<ReadDirection> {
  static std::string name() { return "dim:N|token:ID|head:L.H"; }
  static ReadDirection parse(std::string_view text) { return ReadDirection::parse(text); }
  static nlohmann::json to_json(const ReadDirection& d) { return d.to_json(); }
};

struct RankedHead {
  Head head;
  double score = 0;
  double share = 0;  // score² / Σ score² over the layer's heads
};

/// Heads of one layer ranked by a score, cut at the smallest prefix whose cumulative share reaches the threshold.
struct HeadRanking {
  int64_t layer = 0;
  std::string score;  // what was scored, in words
  double threshold = 0;
  std::vector<RankedHead> heads;  // the kept prefix, best first
  torch::Tensor scores;           // [n_heads]: every head's score, by head index
  nlohmann::json to_json() const;
  NamedTensors tensors() const { return {{"scores", scores}}; }
};
/// Sorts, computes shares and cuts (threshold in (0, 1]; 1 keeps every head).
HeadRanking rank_heads(int64_t layer, torch::Tensor scores, double threshold, std::string score);

struct IdentifyWriteHeads {
  int64_t layer = 0;
  double threshold = 0.8;
  std::optional<torch::Tensor> tokens;  // with tokens: mean ‖hook_result‖₂; without: ‖W_V W_O‖_F
  static constexpr std::string_view method = "identify_write_heads";
  static constexpr std::string_view help = "the heads of a layer ranked by how much they write to the residual stream";
  static std::vector<ToolArgument<IdentifyWriteHeads>> arguments();
};

struct IdentifyReadHeads {
  int64_t layer = 0;
  ReadDirection direction;
  double threshold = 0.8;
  ReadVia via = ReadVia::Q;
  static constexpr std::string_view method = "identify_read_heads";
  static constexpr std::string_view help =
      "the heads of a layer ranked by how much their queries, keys or values read a subspace or an earlier head";
  static std::vector<ToolArgument<IdentifyReadHeads>> arguments();
};

struct TraceInformationFlow {
  torch::Tensor tokens;
  int64_t source = 0;  // position (negative: from the end)
  int64_t destination = -1;
  std::optional<int64_t> n_layers;  // the first n layers; all by default
  int64_t top_k = 10;
  static constexpr std::string_view method = "trace_information_flow";
  static constexpr std::string_view help =
      "how much of what reaches one position came from another: per head (attention x value norm) and over layers "
      "(attention rollout)";
  static std::vector<ToolArgument<TraceInformationFlow>> arguments();
};

struct HeadFlow {
  Head head;
  double flow = 0;
};

struct InformationFlow {
  int64_t source = 0, destination = 0, n_layers = 0;
  torch::Tensor direct;             // [n_layers, n_heads]: mean over the batch of A[dst, src] · ‖v_src W_O‖
  torch::Tensor rollout;            // [n_layers]: (R_l ⋯ R_0)[dst, src] after each layer, mean over the batch
  double flow = 0;                  // rollout after the last of the n_layers layers
  std::vector<HeadFlow> top_paths;  // the heads with the largest direct flow, largest first
  nlohmann::json to_json() const;
  NamedTensors tensors() const { return {{"direct", direct}, {"rollout", rollout}}; }
};

class WriteReadTool : public BaseInterpretabilityTool {
 public:
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  static ToolDescription describe();
  std::string description() const override { return describe().description; }

  HeadRanking identify_write_heads(const IdentifyWriteHeads& args);
  HeadRanking identify_read_heads(const IdentifyReadHeads& args);
  InformationFlow trace_information_flow(const TraceInformationFlow& args);
};

}  // namespace arrakis
