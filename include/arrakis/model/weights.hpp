#pragma once
// The parameters of a HookedTransformer, held per head in TransformerLens' layout.
//
// Layout: W_Q, W_K, W_V are [heads, d_model, d_head] and W_O is [n_heads, d_head, d_model], so a head's OV or QK
// circuit is a slice. Grouped-query models keep W_K, W_V, b_K, b_V with n_kv_heads heads (not repeated).
// For speed the tensors are usually views into one matrix per projection ([d_model, heads * d_head], as the
// matmul reads it), which is also how most checkpoints store them, so loading copies nothing. Editing a weight in
// place (e.g. `W_Q[h].zero_()`) therefore changes the model; to replace a weight by a new tensor, assign it (any
// layout works; `canonicalize_layout()` restores the fast one).
#include <torch/types.h>

#include <string>
#include <vector>

#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/config.hpp"

namespace arrakis {

struct NormWeights {
  torch::Tensor w;  // [d_model]; undefined for norms without weights (None, *Pre)
  torch::Tensor b;  // [d_model]; LayerNorm only
};

struct AttentionWeights {
  torch::Tensor W_Q, W_K, W_V;  // [heads, d_model, d_head]  (W_K, W_V: n_kv_heads heads)
  torch::Tensor W_O;            // [n_heads, d_head, d_model]
  torch::Tensor b_Q, b_K, b_V;  // [heads, d_head] (zeros when the family has no biases)
  torch::Tensor b_O;            // [d_model]
  NormWeights q_norm, k_norm;   // per-head norms of q and k: [n_heads, d_head], [kv_heads, d_head] (qk_norm only)
};

struct MLPWeights {
  torch::Tensor W_in, b_in;    // [d_model, d_mlp], [d_mlp]  (the linear branch of a gated MLP)
  torch::Tensor W_gate;        // [d_model, d_mlp]  gated MLPs only: the branch through the activation (no bias,
                               // as in TransformerLens; no supported family has one)
  torch::Tensor W_out, b_out;  // [d_mlp, d_model], [d_model]
};

struct BlockWeights {
  NormWeights ln1, ln2;  // no ln2 in attention-only models or when attention and MLP share ln1
  AttentionWeights attn;
  MLPWeights mlp;
};

struct ModelWeights {
  torch::Tensor W_E;    // [d_vocab, d_model]
  torch::Tensor W_pos;  // [n_ctx, d_model]; learned positions only
  std::vector<BlockWeights> blocks;
  NormWeights ln_final;
  torch::Tensor W_U;  // [d_model, d_vocab_out]; a transposed view of W_E when the embeddings are tied
  torch::Tensor b_U;  // [d_vocab_out]; undefined when the model has no unembedding bias (then zero)

  /// Every parameter under its TransformerLens name ("embed.W_E", "blocks.0.attn.W_Q", ...), skipping undefined
  /// ones and, when the embeddings are tied, W_U (it is W_E).
  NamedTensors named_parameters(const ModelConfig& config) const;

  /// Zero-initialised weights of the right shapes for `config` (biases zero, norm weights one).
  static ModelWeights zeros(const ModelConfig& config);
  /// Random weights, seeded: normal(0, init_range) matrices, zero biases, unit norms (GPT-2's initialisation).
  static ModelWeights random(const ModelConfig& config, uint64_t seed, double init_range = 0.02);

  /// Checks every tensor's shape against `config`; arrakis::Error naming the tensor, its shape and the expected one.
  void validate(const ModelConfig& config) const;
  /// Rearranges each projection so the forward's matmuls read it without a copy (values unchanged).
  void canonicalize_layout();
  /// Converts every weight to `dtype` and `device`.
  void to(torch::Device device, torch::Dtype dtype);
  /// Sets requires_grad on every parameter (training, gradients with respect to weights).
  void requires_grad(bool on);
};

}  // namespace arrakis
