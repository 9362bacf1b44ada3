#include "arrakis/model/norm_semantics.hpp"

namespace arrakis {

NormSemantics norm_semantics(NormType type) {
  switch (type) {
    case NormType::None: return {};
    case NormType::LayerNorm: return {true, true, NormGain::Weight, true, NormType::LayerNormPre};
    case NormType::LayerNormPre: return {true, true, NormGain::None, false, NormType::LayerNormPre};
    case NormType::RMSNorm: return {true, false, NormGain::Weight, false, NormType::RMSNormPre};
    case NormType::RMSNormPre: return {true, false, NormGain::None, false, NormType::RMSNormPre};
    case NormType::RMSNormOnePlus: return {true, false, NormGain::OnePlusWeight, false, NormType::RMSNormPre};
  }
  return {};
}

torch::Tensor norm_gain(NormType type, const NormWeights& weights) {
  switch (norm_semantics(type).gain) {
    case NormGain::Weight: return weights.w;
    case NormGain::OnePlusWeight: return weights.w + 1;
    case NormGain::None: break;
  }
  return {};
}

torch::Tensor norm_affine(NormType type, const NormWeights& weights, const torch::Tensor& normalized) {
  const auto semantics = norm_semantics(type);
  const bool bias = semantics.bias && weights.b.defined();
  switch (semantics.gain) {
    case NormGain::Weight: return bias ? torch::addcmul(weights.b, normalized, weights.w) : normalized * weights.w;
    case NormGain::OnePlusWeight: return normalized * (weights.w + 1);
    case NormGain::None: break;
  }
  return bias ? normalized + weights.b : normalized;
}

double identity_norm_weight(NormType type) { return norm_semantics(type).gain == NormGain::OnePlusWeight ? 0.0 : 1.0; }

}  // namespace arrakis
