#pragma once
// The `kg_extractor` tool (the seeds' Knowledge Graph Extractor): the relations a layer's attention heads compute,
// read from their QK circuits' singular directions (Elhage et al. 2021, "A Mathematical Framework for Transformer
// Circuits"), as a graph over tokens; and a relation decoded as one affine map of the subject's hidden state (Hernandez
// et al. 2024, "Linearity of Relation Decoding in Transformer Language Models"). Definitions in docs/tools.md.
#include <torch/types.h>

#include <optional>
#include <string>
#include <vector>

#include "arrakis/model/head.hpp"
#include "arrakis/tools/tool_registry.hpp"

namespace arrakis {

struct ExtractRelationalSubspacesArgs {
  int64_t layer = 0;
  int64_t top_k = 3;
  static constexpr std::string_view method = "extract_relational_subspaces";
  static constexpr std::string_view help =
      "the top singular directions of each head's QK circuit W_Q W_K^T: what its queries and keys read";
  static std::vector<ToolArgument<ExtractRelationalSubspacesArgs>> arguments();
};

/// The top-k singular triples of W_QKʰ = W_Qʰ W_Kʰᵀ (ln1's gain folded in, as qk_circuits) for every head of a layer:
/// W_QKʰ ≈ Σᵢ σᵢ uᵢ vᵢᵀ. Signs are fixed so that each uᵢ's largest-magnitude entry is positive.
struct RelationalSubspaces {
  int64_t layer = 0, top_k = 0;
  torch::Tensor query_directions;  // [n_heads, top_k, d_model]: uᵢ, the left singular vectors (query side)
  torch::Tensor key_directions;    // [n_heads, top_k, d_model]: vᵢ, the right singular vectors (key side)
  torch::Tensor singular_values;   // [n_heads, top_k]: σᵢ, descending
  nlohmann::json to_json() const;
  NamedTensors tensors() const {
    return {{"query_directions", query_directions},
            {"key_directions", key_directions},
            {"singular_values", singular_values}};
  }
};

struct ProjectTokenEmbeddingsArgs {
  std::vector<int64_t> token_ids;
  int64_t layer = 0;
  int64_t top_k = 3;
  bool normalize = true;  // the embedding as the layer's norm reads it (see docs/tools.md), or the raw W_E row
  static constexpr std::string_view method = "project_token_embeddings";
  static constexpr std::string_view help =
      "the tokens' embeddings projected on each head's top QK singular directions (query and key side)";
  static std::vector<ToolArgument<ProjectTokenEmbeddingsArgs>> arguments();
};

struct TokenProjections {
  int64_t layer = 0, top_k = 0;
  bool normalized = true;
  std::vector<int64_t> token_ids;
  std::vector<std::string> tokens;  // the tokens' strings; empty when the model has no tokenizer
  torch::Tensor query_projections;  // [n_tokens, n_heads, top_k]: e_t · uᵢ
  torch::Tensor key_projections;    // [n_tokens, n_heads, top_k]: e_t · vᵢ
  torch::Tensor singular_values;    // [n_heads, top_k]
  nlohmann::json to_json() const;
  NamedTensors tensors() const {
    return {{"query_projections", query_projections},
            {"key_projections", key_projections},
            {"singular_values", singular_values}};
  }
};

struct IdentifyRelationTypesArgs {
  std::vector<int64_t> token_ids;
  int64_t layer = 0;
  int64_t top_k = 3;
  double threshold = 0.5;
  bool normalize = true;
  static constexpr std::string_view method = "identify_relation_types";
  static constexpr std::string_view help =
      "a graph over tokens: an edge a->b per head and QK singular direction along which a's query strongly "
      "matches b's key";
  static std::vector<ToolArgument<IdentifyRelationTypesArgs>> arguments();
};

struct RelationNode {
  int64_t id = 0;                    // the token id
  std::optional<std::string> token;  // its string, when the model has a tokenizer
};

/// source's query (a) reads target's key (b) along singular direction `direction` of `head`.
struct RelationEdge {
  int64_t source = 0, target = 0;  // token ids
  Head head;
  int64_t direction = 0;  // index of the singular direction, 0 = the largest
  double weight = 0;      // the score s = (e_a·uᵢ) σᵢ (vᵢ·e_b)
};

struct RelationGraph {
  int64_t layer = 0, top_k = 0;
  double threshold = 0;
  bool normalized = true;
  std::vector<RelationNode> nodes;  // in the order of token_ids
  std::vector<RelationEdge> edges;  // by head, direction, source node, target node
  torch::Tensor scores;             // [n_heads, top_k, n_tokens, n_tokens]: s[h, i, a, b]
  nlohmann::json to_json() const;
  NamedTensors tensors() const { return {{"scores", scores}}; }
  /// The graph as a GraphML document (directed; node keys label and token_id, edge keys head, direction, weight).
  std::string to_graphml() const;
};

struct LinearRelationalEmbeddingArgs {
  torch::Tensor tokens;                    // [n, pos]: one prompt per example, all of one length
  std::vector<int64_t> subject_positions;  // one per example (or one for all); negative: from the end
  std::vector<int64_t> objects;            // the object token per example
  int64_t layer = 0;
  std::optional<int64_t> n_train;  // the first n_train examples fit the map, the rest are held out (default n / 2)
  double beta = 1.0;
  static constexpr std::string_view method = "linear_relational_embedding";
  static constexpr std::string_view help =
      "fit a relation as an affine map W h + b from the subject's hidden state to the final one (the mean Jacobian, "
      "Hernandez et al. 2024) and measure how often it decodes the object";
  static std::vector<ToolArgument<LinearRelationalEmbeddingArgs>> arguments();
};

struct LrePrediction {
  int64_t example = 0;                                       // row of tokens
  int64_t object = 0;                                        // the expected object token
  int64_t predicted = 0;                                     // argmax of unembed(ln_final(beta W h + b))
  int64_t model_predicted = 0;                               // argmax of the model's own logits at the last position
  bool faithful = false;                                     // predicted == object
  std::optional<std::string> object_token, predicted_token;  // with a tokenizer
};

struct LinearRelationalEmbedding {
  int64_t layer = 0, n_train = 0, n_test = 0;
  double beta = 1.0;
  double faithfulness_test = 0, faithfulness_train = 0;
  double model_accuracy_test = 0, model_accuracy_train = 0;
  torch::Tensor W;                         // [d_model, d_model]: the mean Jacobian ∂o/∂h over the training examples
  torch::Tensor b;                         // [d_model]: mean(o − W h) over the training examples
  torch::Tensor subject_states;            // [n, d_model]: h, blocks.{layer}.hook_resid_pre at the subject position
  torch::Tensor object_states;             // [n, d_model]: o, the final residual stream at the last position
  std::vector<LrePrediction> predictions;  // one per held-out example
  nlohmann::json to_json() const;
  NamedTensors tensors() const {
    return {{"W", W}, {"b", b}, {"subject_states", subject_states}, {"object_states", object_states}};
  }
};

class KgExtractorTool : public BaseInterpretabilityTool {
 public:
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  static ToolDescription describe();
  std::string description() const override { return describe().description; }

  RelationalSubspaces extract_relational_subspaces(const ExtractRelationalSubspacesArgs& args);
  TokenProjections project_token_embeddings(const ProjectTokenEmbeddingsArgs& args);
  RelationGraph identify_relation_types(const IdentifyRelationTypesArgs& args);
  LinearRelationalEmbedding linear_relational_embedding(const LinearRelationalEmbeddingArgs& args);
};

}  // namespace arrakis
