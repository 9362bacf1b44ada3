#pragma once
// Normalization layers with TransformerLens' hook points: hook_scale is sqrt(mean(x^2) + eps) of the (centred)
// input, hook_normalized is the input divided by it, before any weight or bias.
#include <torch/types.h>

#include "arrakis/hooks/hook_registry.hpp"
#include "arrakis/model/config.hpp"
#include "arrakis/model/weights.hpp"

namespace arrakis {

torch::Tensor apply_norm(NormType type, const NormWeights& weights, const torch::Tensor& x, double eps,
                         const HookRegistry& hooks, int scale_hook, int normalized_hook);

}  // namespace arrakis
