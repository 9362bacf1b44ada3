#include "model/norm.hpp"

#include "arrakis/model/norm_semantics.hpp"

namespace arrakis {

torch::Tensor apply_norm(NormType type, const NormWeights& weights, const torch::Tensor& x, double eps,
                         const HookRegistry& hooks, int scale_hook, int normalized_hook) {
  const auto semantics = norm_semantics(type);
  if (!semantics.present) return x;
  // Statistics in float32 even for half-precision models (as Hugging Face and TransformerLens do).
  const bool upcast = x.scalar_type() != torch::kFloat32 && x.scalar_type() != torch::kFloat64;
  torch::Tensor h = upcast ? x.to(torch::kFloat32) : x;
  const bool centre = semantics.centres;
  torch::Tensor normalized;
  if (centre && !upcast) {
    // LibTorch's fused LayerNorm kernel (as Hugging Face runs it): one pass for mean and 1/scale, one for the
    // normalized values, where the written-out formula below takes five. hook_scale sees sqrt(var + eps) = 1/rstd;
    // a hook that changes it (returns another tensor, or edits it in place) gets the written-out division.
    auto [fused, mean, rstd] = at::native_layer_norm(x, {x.size(-1)}, {}, {}, eps);
    torch::Tensor scale = rstd.reciprocal();
    const auto version = scale._version();
    auto hooked = hooks.run(scale_hook, scale);
    normalized = hooked.is_same(scale) && hooked._version() == version ? fused : (x - mean) / hooked;
  } else {
    if (centre) h = h - h.mean(-1, /*keepdim=*/true);
    torch::Tensor scale = (h.pow(2).mean(-1, /*keepdim=*/true) + eps).sqrt();
    if (upcast) scale = scale.to(x.scalar_type());
    scale = hooks.run(scale_hook, scale);
    normalized = upcast ? (h / scale.to(torch::kFloat32)).to(x.scalar_type()) : h / scale;
  }
  normalized = hooks.run(normalized_hook, normalized);
  return norm_affine(type, weights, normalized);
}

}  // namespace arrakis
