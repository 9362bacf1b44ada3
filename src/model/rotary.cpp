#include "model/rotary.hpp"

#include <cmath>

#include "arrakis/error.hpp"

namespace arrakis {

using torch::indexing::None;
using torch::indexing::Slice;

namespace {

// base^(-2i / d) for i < d/2, in float32 as the reference implementations compute it.
torch::Tensor base_frequencies(double base, int64_t rd, torch::Device device) {
  auto exponents =
      torch::arange(0, rd, 2, torch::TensorOptions().dtype(torch::kInt64).device(device)).to(torch::kFloat32) /
      static_cast<double>(rd);
  return 1.0 / torch::pow(base, exponents);
}

// Llama 3.1's frequency-dependent scaling: wavelengths longer than the original context / low_freq_factor are
// stretched by `factor`, shorter than context / high_freq_factor kept, and the band between interpolated.
torch::Tensor llama3_frequencies(const RopeScaling& s, torch::Tensor inv_freq) {
  const double context = static_cast<double>(s.original_max_position_embeddings);
  const double low_wavelen = context / s.low_freq_factor, high_wavelen = context / s.high_freq_factor;
  auto wavelen = 2 * M_PI / inv_freq;
  auto scaled = torch::where(wavelen > low_wavelen, inv_freq / s.factor, inv_freq);
  auto smooth = (context / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
  auto smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled;
  auto medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
  return torch::where(medium, smoothed, scaled);
}

}  // namespace

torch::Tensor rotary_inverse_frequencies(const ModelConfig& config, torch::Device device, int64_t seq_len) {
  const int64_t rd = config.rotary_dims();
  const auto& s = config.rope_scaling;
  switch (s.type) {
    case RopeScaling::Type::None:
    case RopeScaling::Type::Linear:  // applied to the positions
      return base_frequencies(config.rotary_base, rd, device);
    case RopeScaling::Type::Dynamic: {
      double base = config.rotary_base;
      if (seq_len > s.max_position_embeddings) {
        const double grown =
            s.factor * static_cast<double>(seq_len) / static_cast<double>(s.max_position_embeddings) - (s.factor - 1);
        base *= std::pow(grown, static_cast<double>(rd) / static_cast<double>(rd - 2));
      }
      return base_frequencies(base, rd, device);
    }
    case RopeScaling::Type::Llama3: return llama3_frequencies(s, base_frequencies(config.rotary_base, rd, device));
    case RopeScaling::Type::LongRope:
    case RopeScaling::Type::Yarn: {
      const auto& factors = seq_len > s.original_max_position_embeddings ? s.long_factor : s.short_factor;
      if (static_cast<int64_t>(factors.size()) != rd / 2)
        throw Error("rope_scaling has " + std::to_string(factors.size()) + " factors for " + std::to_string(rd / 2) +
                    " rotary frequencies");
      auto ext = torch::tensor(std::vector<float>(factors.begin(), factors.end()),
                               torch::TensorOptions().dtype(torch::kFloat32))
                     .to(device);
      auto exponents =
          torch::arange(0, rd, 2, torch::TensorOptions().dtype(torch::kInt64).device(device)).to(torch::kFloat32) /
          static_cast<double>(rd);
      return 1.0 / (ext * torch::pow(config.rotary_base, exponents));
    }
  }
  return base_frequencies(config.rotary_base, rd, device);
}

double rotary_attention_factor(const ModelConfig& config) {
  const auto& s = config.rope_scaling;
  if (s.type != RopeScaling::Type::LongRope && s.type != RopeScaling::Type::Yarn) return 1.0;
  const double scale =
      static_cast<double>(s.max_position_embeddings) / static_cast<double>(s.original_max_position_embeddings);
  if (scale <= 1.0) return 1.0;
  if (s.type == RopeScaling::Type::Yarn) return 0.1 * std::log(scale) + 1.0;
  return std::sqrt(1.0 + std::log(scale) / std::log(static_cast<double>(s.original_max_position_embeddings)));
}

RotaryAngles rotary_angles(const ModelConfig& config, const torch::Tensor& positions, torch::Dtype dtype) {
  // Reference implementations pick the scaling from the longest position in the batch.
  const int64_t seq_len = positions.numel() ? positions.max().item<int64_t>() + 1 : 0;
  auto inv_freq = rotary_inverse_frequencies(config, positions.device(), seq_len);
  auto pos = positions.to(torch::kFloat32);
  if (config.rope_scaling.type == RopeScaling::Type::Linear) pos = pos / config.rope_scaling.factor;
  auto freqs = pos.unsqueeze(-1) * inv_freq;  // [batch, pos, rd/2] in float32
  torch::Tensor emb;
  if (config.rotary_style == RotaryStyle::NeoX)
    emb = torch::cat({freqs, freqs}, -1);  // (x[i], x[i + rd/2]) share angle i
  else
    emb = freqs.repeat_interleave(2, -1);  // (x[2i], x[2i+1]) share angle i
  auto cos = emb.cos(), sin = emb.sin();
  if (const double factor = rotary_attention_factor(config); factor != 1.0) {
    cos = cos * factor;
    sin = sin * factor;
  }
  return {cos.to(dtype).unsqueeze(2), sin.to(dtype).unsqueeze(2)};
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
