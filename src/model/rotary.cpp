#include "model/rotary.hpp"

namespace arrakis {

using torch::indexing::None;
using torch::indexing::Slice;

torch::Tensor rotary_inverse_frequencies(const ModelConfig& config, torch::Device device) {
  const int64_t rd = config.rotary_dims();
  auto exponents = torch::arange(0, rd, 2, torch::TensorOptions().dtype(torch::kInt64).device(device))
                       .to(torch::kFloat32) / static_cast<double>(rd);
  return 1.0 / torch::pow(config.rotary_base, exponents);
}

RotaryAngles rotary_angles(const ModelConfig& config, const torch::Tensor& positions, torch::Dtype dtype) {
  auto inv_freq = rotary_inverse_frequencies(config, positions.device());
  // [batch, pos, rd/2] angles, computed in float32 like the reference implementations.
  auto freqs = positions.to(torch::kFloat32).unsqueeze(-1) * inv_freq;
  torch::Tensor emb;
  if (config.rotary_style == RotaryStyle::NeoX)
    emb = torch::cat({freqs, freqs}, -1);                 // (x[i], x[i + rd/2]) share angle i
  else
    emb = freqs.repeat_interleave(2, -1);                 // (x[2i], x[2i+1]) share angle i
  return {emb.cos().to(dtype).unsqueeze(2), emb.sin().to(dtype).unsqueeze(2)};
}

torch::Tensor apply_rotary(const ModelConfig& config, const torch::Tensor& x, const RotaryAngles& angles) {
  const int64_t rd = config.rotary_dims();
  auto x_rot = x.index({"...", Slice(None, rd)});
  torch::Tensor rotated;
  if (config.rotary_style == RotaryStyle::NeoX) {
    auto x1 = x_rot.index({"...", Slice(None, rd / 2)});
    auto x2 = x_rot.index({"...", Slice(rd / 2, None)});
    rotated = torch::cat({-x2, x1}, -1);
  } else {
    auto even = x_rot.index({"...", Slice(0, None, 2)});
    auto odd = x_rot.index({"...", Slice(1, None, 2)});
    rotated = torch::stack({-odd, even}, -1).flatten(-2);
  }
  auto out = x_rot * angles.cos + rotated * angles.sin;
  if (rd == x.size(-1)) return out;
  return torch::cat({out, x.index({"...", Slice(rd, None)})}, -1);
}

}  // namespace arrakis
