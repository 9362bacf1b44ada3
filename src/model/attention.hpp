#pragma once
// Multi-head / grouped-query attention with TransformerLens' hook points.
#include <torch/types.h>

#include "arrakis/hooks/hook_catalogue.hpp"
#include "arrakis/hooks/hook_registry.hpp"
#include "arrakis/model/config.hpp"
#include "arrakis/model/kv_cache.hpp"
#include "arrakis/model/weights.hpp"
#include "model/attention_context.hpp"

namespace arrakis {

/// The inputs q, k and v read: the normalized residual stream [batch, pos, d_model], or, with split inputs,
/// one copy per head [batch, pos, heads, d_model].
struct AttentionInputs {
  torch::Tensor query, key, value;
};

/// The attention block's output [batch, pos, d_model] (before hook_attn_out). With query_positions > 0, only the
/// last query_positions positions query (the others give keys and values): the output is [batch, query_positions,
/// d_model].
torch::Tensor attention_forward(const ModelConfig& config, int layer, const AttentionWeights& weights,
                                const AttentionInputs& inputs, const AttentionContext& ctx, const HookRegistry& hooks,
                                const BlockHookIds& ids, KeyValueCache* kv_cache, bool per_head_result,
                                int64_t query_positions = 0);

/// x [batch, pos, d_model] (or [batch, pos, heads, d_model]) times W [heads, d_model, d_head] plus b [heads, d_head]
/// -> [batch, pos, heads, d_head]. One matmul over the projection's [d_model, heads * d_head] view.
torch::Tensor project_to_heads(const torch::Tensor& x, const torch::Tensor& W, const torch::Tensor& b);

}  // namespace arrakis
