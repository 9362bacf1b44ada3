#pragma once
// What every layer's attention shares within one forward: positions, rotary angles and the masks.
#include <torch/types.h>

#include <map>
#include <optional>

#include "arrakis/model/config.hpp"
#include "model/rotary.hpp"

namespace arrakis {

struct AttentionContext {
  int64_t batch = 0, query_len = 0, past_len = 0;
  torch::Tensor positions;             // [batch, query_len] absolute positions (padding not counted)
  std::optional<RotaryAngles> rotary;  // rotary models only
  /// window -> [batch or 1, 1, query_len, past_len + query_len] in the model's dtype: 0 where a query may attend, -inf
  /// where it may not (added to the scores: the same result as masked_fill, an order of magnitude faster).
  std::map<int64_t, torch::Tensor> mask_bias;

  const torch::Tensor& mask_bias_for(int64_t window) const { return mask_bias.at(window); }
};

/// `full_mask`: [batch, past_len + query_len] (1 = real token) or undefined when nothing is padded.
/// Padded query positions may attend to themselves, so no softmax row is empty (their outputs are meaningless
/// either way, and this keeps NaN out of the padded positions).
AttentionContext make_attention_context(const ModelConfig& config, int64_t batch, int64_t query_len, int64_t past_len,
                                        const torch::Tensor& full_mask, torch::Device device, torch::Dtype dtype);

}  // namespace arrakis
