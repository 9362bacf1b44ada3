#pragma once
// Rotary position embeddings: the first rotary_dim dimensions of each query and key head are rotated by angles
// position * base^(-2i / rotary_dim).
#include <torch/types.h>

#include "arrakis/model/config.hpp"

namespace arrakis {

struct RotaryAngles {
  torch::Tensor cos, sin;  // [batch, pos, 1, rotary_dim], laid out for the config's RotaryStyle
};

/// The inverse frequencies base^(-2i / rotary_dim), i < rotary_dim / 2 (float32), after the config's rope scaling
/// for a forward whose longest position is seq_len - 1.
torch::Tensor rotary_inverse_frequencies(const ModelConfig& config, torch::Device device, int64_t seq_len);
/// The factor LongRope / YaRN scalings multiply cos and sin by (1 otherwise).
double rotary_attention_factor(const ModelConfig& config);
/// Angles for absolute positions [batch, pos] (int64).
RotaryAngles rotary_angles(const ModelConfig& config, const torch::Tensor& positions, torch::Dtype dtype);
/// Rotates x [batch, pos, heads, d_head]; dimensions past rotary_dim pass through.
torch::Tensor apply_rotary(const ModelConfig& config, const torch::Tensor& x, const RotaryAngles& angles);

}  // namespace arrakis
