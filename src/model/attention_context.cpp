#include "model/attention_context.hpp"

#include <limits>
#include <set>

namespace arrakis {

using torch::indexing::None;
using torch::indexing::Slice;

AttentionContext make_attention_context(const ModelConfig& config, int64_t batch, int64_t query_len, int64_t past_len,
                                        const torch::Tensor& full_mask, torch::Device device, torch::Dtype dtype) {
  AttentionContext ctx;
  ctx.batch = batch;
  ctx.query_len = query_len;
  ctx.past_len = past_len;
  const int64_t keys = past_len + query_len;
  auto long_options = torch::TensorOptions().dtype(torch::kInt64).device(device);

  torch::Tensor key_real, query_real;  // [batch, keys], [batch, query_len] booleans
  if (full_mask.defined()) {
    key_real = full_mask.to(device).to(torch::kBool);
    query_real = key_real.index({Slice(), Slice(past_len, None)});
    // Positions count real tokens only, so a left-padded sequence gets the positions it has alone.
    ctx.positions =
        (full_mask.to(device).to(torch::kInt64).cumsum(-1) - 1).clamp_min(0).index({Slice(), Slice(past_len, None)});
  } else {
    ctx.positions = torch::arange(past_len, keys, long_options).unsqueeze(0).expand({batch, query_len});
  }
  if (config.positional_embedding == PositionalEmbedding::Rotary)
    ctx.rotary = rotary_angles(config, ctx.positions, dtype);

  auto q_index = torch::arange(past_len, keys, long_options).unsqueeze(1);  // [query_len, 1]
  auto k_index = torch::arange(0, keys, long_options).unsqueeze(0);         // [1, keys]
  std::set<int64_t> windows;
  for (int64_t l = 0; l < config.n_layers; ++l) windows.insert(config.attn_window(l));
  for (int64_t w : windows) {
    auto allowed = k_index <= q_index;
    if (w > 0) allowed = allowed & (k_index > q_index - w);
    if (key_real.defined()) {
      allowed = allowed.unsqueeze(0) & key_real.unsqueeze(1);  // [batch, q, keys]
      auto self = (k_index == q_index).unsqueeze(0) & query_real.logical_not().unsqueeze(2);
      allowed = allowed | self;
    } else {
      allowed = allowed.unsqueeze(0);  // [1, q, keys]
    }
    auto bias = torch::zeros(allowed.sizes(), torch::TensorOptions().dtype(dtype).device(device));
    ctx.mask_bias[w] = bias.masked_fill_(allowed.logical_not(), -std::numeric_limits<double>::infinity())
                           .unsqueeze(1);  // [b|1, 1, q, keys]
  }
  return ctx;
}

}  // namespace arrakis
