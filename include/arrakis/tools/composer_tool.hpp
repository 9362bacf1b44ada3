#pragma once
// The `composer` tool (the seeds' Attention Head Composition): how strongly an earlier head's output is read by a
// later head's queries, keys or values ("A Mathematical Framework for Transformer Circuits", Elhage et al. 2021;
// TransformerLens' composition scores), and the virtual weights of the pair. Definitions in docs/tools.md.
#include <torch/types.h>

#include <string>
#include <vector>

#include "arrakis/analysis/factored_matrix.hpp"
#include "arrakis/model/head.hpp"
#include "arrakis/tools/tool_registry.hpp"
#include "arrakis/tools/write_read_tool.hpp"

namespace arrakis {

struct HeadCompositionArgs {
  Head head1, head2;  // head1 writes (an earlier layer), head2 reads
  static constexpr std::string_view method = "head_composition";
  static constexpr std::string_view help = "the Q-, K- and V-composition scores of an earlier head into a later one";
  static std::vector<ToolArgument<HeadCompositionArgs>> arguments();
};

struct HeadComposition {
  Head head1, head2;
  double q = 0, k = 0, v = 0;  // ‖W_OV¹ W²‖_F / (‖W_OV¹‖_F ‖W²‖_F), W² = QK², QK²ᵀ, OV²
  nlohmann::json to_json() const;
  NamedTensors tensors() const { return {{"scores", torch::tensor({q, k, v}, torch::kFloat64)}}; }  // q, k, v
};

struct VirtualWeightsArgs {
  Head head1, head2;
  ReadVia kind = ReadVia::V;  // into head2's queries (QK), keys (QKᵀ) or values (OV)
  static constexpr std::string_view method = "virtual_weights";
  static constexpr std::string_view help =
      "head1's OV circuit composed into head2's QK (q, k) or OV (v) circuit, kept factored";
  static std::vector<ToolArgument<VirtualWeightsArgs>> arguments();
};

struct VirtualWeights {
  Head head1, head2;
  ReadVia kind = ReadVia::V;
  FactoredMatrix product;         // d_model x d_model, factored through d_head
  double norm = 0;                // ‖product‖_F
  double composition_score = 0;   // norm / (‖W_OV¹‖_F ‖W²‖_F)
  torch::Tensor singular_values;  // of the product, descending
  nlohmann::json to_json() const;
  NamedTensors tensors() const;  // A, B (product = A B), singular_values
};

struct AttentionPathPatchingArgs {
  torch::Tensor clean, corrupted;  // token ids [batch, pos], the same shape
  Head src_head, dest_head;
  ReadVia via = ReadVia::K;
  std::string metric;  // logit-diff:A,B | logprob:T | loss | kl (docs/patching.md)
  static constexpr std::string_view method = "attention_path_patching";
  static constexpr std::string_view help =
      "path patching: src_head's output from the clean run into dest_head's query, key or value input only, in the "
      "corrupted run";
  static std::vector<ToolArgument<AttentionPathPatchingArgs>> arguments();
};

struct PathPatchingEffect {
  Head src_head, dest_head;
  ReadVia via = ReadVia::K;
  std::string metric;
  double patched = 0, clean = 0, corrupted = 0;
  double normalized = 0;  // (patched - corrupted) / (clean - corrupted): 1 = the path restores the clean metric
  nlohmann::json to_json() const;
  NamedTensors tensors() const {  // patched, clean, corrupted
    return {{"metrics", torch::tensor({patched, clean, corrupted}, torch::kFloat64)}};
  }
};

class ComposerTool : public BaseInterpretabilityTool {
 public:
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  static ToolDescription describe();
  std::string description() const override { return describe().description; }

  HeadComposition head_composition(const HeadCompositionArgs& args);
  VirtualWeights virtual_weights(const VirtualWeightsArgs& args);
  PathPatchingEffect attention_path_patching(const AttentionPathPatchingArgs& args);
};

}  // namespace arrakis
