#include "model/attention.hpp"

#include <limits>

#include "model/attention_matmul.hpp"
#include "model/linear.hpp"
#include "model/norm.hpp"
#include "model/onednn_ops.hpp"

namespace arrakis {

torch::Tensor project_to_heads(const torch::Tensor& x, const torch::Tensor& W, const torch::Tensor& b) {
  const int64_t heads = W.size(0), d_model = W.size(1), d_head = W.size(2);
  if (x.dim() == 4)  // one input per head (split q/k/v inputs)
    return torch::einsum("bphd,hde->bphe", {x, W}) + b;
  // In the canonical layout this reshape is a view: no copy of the weights.
  auto matrix = W.permute({1, 0, 2}).reshape({d_model, heads * d_head});
  auto out = linear(x.reshape({-1, d_model}), matrix, b.reshape({heads * d_head}));
  return out.view({x.size(0), x.size(1), heads, d_head});
}

torch::Tensor attention_forward(const ModelConfig& config, int layer, const AttentionWeights& w,
                                const AttentionInputs& in, const AttentionContext& ctx, const HookRegistry& hooks,
                                const BlockHookIds& ids, KeyValueCache* kv_cache, bool per_head_result,
                                int64_t query_positions) {
  const int64_t batch = ctx.batch, n_keys_new = ctx.query_len;
  const int64_t n_heads = config.n_heads, d_head = config.d_head;
  // Queries: every position, or (query_positions > 0) the last few, whose hooks then see those positions only.
  const int64_t pos = query_positions > 0 ? query_positions : n_keys_new, skipped = n_keys_new - pos;
  auto queries_of = [&](const torch::Tensor& x) { return skipped > 0 ? x.narrow(1, skipped, pos) : x; };

  auto compute_q = [&] {
    if (skipped > 0) hooks.set_position_offset(ctx.past_len + skipped);
    auto q = hooks.run(ids.q, project_to_heads(queries_of(in.query), w.W_Q, w.b_Q));  // [batch, pos, heads, d_head]
    if (config.qk_norm != NormType::None)
      q = apply_norm(config.qk_norm, w.q_norm, q, config.eps, hooks, ids.q_norm_scale, ids.q_norm_normalized);
    if (ctx.rotary) {
      const RotaryAngles angles{queries_of(ctx.rotary->cos), queries_of(ctx.rotary->sin)};
      q = hooks.run(ids.rot_q, apply_rotary(config, q, angles));
    }
    return q;
  };
  auto compute_k = [&] {
    auto k = hooks.run(ids.k, project_to_heads(in.key, w.W_K, w.b_K));
    if (config.qk_norm != NormType::None)
      k = apply_norm(config.qk_norm, w.k_norm, k, config.eps, hooks, ids.k_norm_scale, ids.k_norm_normalized);
    if (ctx.rotary) k = hooks.run(ids.rot_k, apply_rotary(config, k, *ctx.rotary));
    return k;
  };
  // Hooks run in the order q, k, v, then the norms and rotations; with skipped queries the queries come last (their
  // hooks see the later position offset).
  torch::Tensor q, k, v;
  if (skipped == 0) {
    q = hooks.run(ids.q, project_to_heads(in.query, w.W_Q, w.b_Q));
    k = hooks.run(ids.k, project_to_heads(in.key, w.W_K, w.b_K));
    v = hooks.run(ids.v, project_to_heads(in.value, w.W_V, w.b_V));
    if (config.qk_norm != NormType::None) {
      q = apply_norm(config.qk_norm, w.q_norm, q, config.eps, hooks, ids.q_norm_scale, ids.q_norm_normalized);
      k = apply_norm(config.qk_norm, w.k_norm, k, config.eps, hooks, ids.k_norm_scale, ids.k_norm_normalized);
    }
    if (ctx.rotary) {
      q = hooks.run(ids.rot_q, apply_rotary(config, q, *ctx.rotary));
      k = hooks.run(ids.rot_k, apply_rotary(config, k, *ctx.rotary));
    }
  } else {
    k = compute_k();
    v = hooks.run(ids.v, project_to_heads(in.value, w.W_V, w.b_V));
    q = compute_q();
  }

  auto keys = k.permute({0, 2, 1, 3});  // [batch, kv_heads, pos, d_head]
  auto values = v.permute({0, 2, 1, 3});
  if (kv_cache) {
    if (static_cast<int64_t>(kv_cache->keys.size()) < config.n_layers) {
      kv_cache->keys.resize(config.n_layers);
      kv_cache->values.resize(config.n_layers);
    }
    auto& past_k = kv_cache->keys[layer];
    auto& past_v = kv_cache->values[layer];
    if (past_k.defined() && past_k.size(2) > 0) {
      keys = torch::cat({past_k, keys}, 2);
      values = torch::cat({past_v, values}, 2);
    }
    past_k = keys.contiguous();
    past_v = values.contiguous();
    keys = past_k;
    values = past_v;
  }
  auto scores = attention_scores(q, keys);  // [batch, heads, pos, keys]
  double scale = config.effective_attn_scale();
  if (config.scale_attn_by_inverse_layer_idx) scale *= static_cast<double>(layer + 1);
  if (scale != 1.0) scores.div_(scale);
  // -inf where masked (13x faster than masked_fill_).
  const auto& bias = ctx.mask_bias_for(config.attn_window(layer));  // [batch | 1, 1, queries, keys]
  scores.add_(skipped > 0 ? bias.narrow(2, skipped, pos) : bias);
  scores = hooks.run(ids.attn_scores, scores);

  torch::Tensor pattern;
  if (onednn_suits(scores, scores))
    pattern = onednn_softmax_last_dim(scores);
  else if (scores.scalar_type() == torch::kFloat32 || scores.scalar_type() == torch::kFloat64)
    pattern = torch::softmax(scores, -1);
  else  // half precision: normalize in float32, as the reference implementations do
    pattern = torch::softmax(scores, -1, torch::kFloat32).to(scores.scalar_type());
  pattern = hooks.run(ids.pattern, pattern);

  auto z = attention_mix(pattern, values);  // [batch, pos, heads, d_head]
  z = hooks.run(ids.z, z);

  if (per_head_result) {
    auto result = hooks.run(ids.result, torch::einsum("bphe,hed->bphd", {z, w.W_O}));
    return result.sum(2) + w.b_O;
  }
  auto out =
      linear(z.reshape({batch * pos, n_heads * d_head}), w.W_O.reshape({n_heads * d_head, config.d_model}), w.b_O);
  return out.view({batch, pos, config.d_model});
}

}  // namespace arrakis
