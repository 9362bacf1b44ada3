#include "arrakis/model/config.hpp"

#include <fmt/format.h>

#include <cmath>

#include "arrakis/error.hpp"

namespace arrakis {

std::string to_string(NormType t) {
  switch (t) {
    case NormType::None: return "none";
    case NormType::LayerNorm: return "LN";
    case NormType::LayerNormPre: return "LNPre";
    case NormType::RMSNorm: return "RMS";
    case NormType::RMSNormPre: return "RMSPre";
    case NormType::RMSNormOnePlus: return "RMSOnePlus";
  }
  return "?";
}

std::string to_string(Activation a) {
  switch (a) {
    case Activation::Relu: return "relu";
    case Activation::Gelu: return "gelu";
    case Activation::GeluTanh: return "gelu_new";
    case Activation::Silu: return "silu";
  }
  return "?";
}

std::string to_string(PositionalEmbedding p) {
  switch (p) {
    case PositionalEmbedding::None: return "none";
    case PositionalEmbedding::Learned: return "standard";
    case PositionalEmbedding::Rotary: return "rotary";
  }
  return "?";
}

double ModelConfig::effective_attn_scale() const {
  return attn_scale > 0 ? attn_scale : std::sqrt(static_cast<double>(d_head));
}

int64_t ModelConfig::attn_window(int64_t layer) const {
  return attn_windows.empty() ? 0 : attn_windows.at(static_cast<std::size_t>(layer));
}

void ModelConfig::validate() const {
  auto fail = [&](const std::string& what) {
    throw Error(fmt::format("model config{}: {}", model_name.empty() ? "" : " of " + model_name, what));
  };
  auto positive = [&](const char* name, int64_t v) {
    if (v <= 0) fail(fmt::format("{} must be positive, got {}", name, v));
  };
  positive("n_layers", n_layers);
  positive("d_model", d_model);
  positive("n_heads", n_heads);
  positive("d_head", d_head);
  positive("d_vocab", d_vocab);
  positive("n_ctx", n_ctx);
  if (n_kv_heads < 0 || kv_heads() > n_heads || n_heads % kv_heads() != 0)
    fail(fmt::format("n_heads ({}) must be a multiple of n_key_value_heads ({})", n_heads, kv_heads()));
  if (has_mlp() && d_mlp <= 0) fail("d_mlp must be positive for a model with MLPs");
  if (!attn_only && d_mlp <= 0) fail("d_mlp is missing (set attn_only for attention-only models)");
  if (positional_embedding == PositionalEmbedding::Rotary) {
    if (rotary_dims() % 2 != 0 || rotary_dims() > d_head)
      fail(fmt::format("rotary_dim {} must be even and at most d_head {}", rotary_dims(), d_head));
  }
  if (!attn_windows.empty() && static_cast<int64_t>(attn_windows.size()) != n_layers)
    fail(fmt::format("attn_windows has {} entries for {} layers", attn_windows.size(), n_layers));
  for (auto window : attn_windows)
    if (window < 0) fail(fmt::format("attention window {} is negative (0 means global attention)", window));
  if (!(eps > 0) && normalization != NormType::None) fail(fmt::format("eps must be positive, got {}", eps));
  // Values that would not crash but make every logit meaningless (NaN or infinite scores).
  if (!std::isfinite(attn_scale) || attn_scale < 0)
    fail(fmt::format("attn_scale must be positive (or 0 for sqrt(d_head)), got {}", attn_scale));
  if (rotary_dim < 0) fail(fmt::format("rotary_dim {} is negative", rotary_dim));
  if (positional_embedding == PositionalEmbedding::Rotary) {
    if (!std::isfinite(rotary_base) || rotary_base <= 0)
      fail(fmt::format("the rotary base (rope_theta) must be positive, got {}", rotary_base));
    if (rope_scaling.type != RopeScaling::Type::None) {
      if (!std::isfinite(rope_scaling.factor) || rope_scaling.factor <= 0)
        fail(fmt::format("rope_scaling factor must be positive, got {}", rope_scaling.factor));
      const bool needs_original = rope_scaling.type == RopeScaling::Type::Llama3 ||
                                  rope_scaling.type == RopeScaling::Type::LongRope ||
                                  rope_scaling.type == RopeScaling::Type::Yarn;
      if (needs_original && rope_scaling.original_max_position_embeddings <= 0)
        fail(fmt::format("rope_scaling needs a positive original_max_position_embeddings, got {}",
                         rope_scaling.original_max_position_embeddings));
    }
  }
}

}  // namespace arrakis
