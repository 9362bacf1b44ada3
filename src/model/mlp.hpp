#pragma once
// The MLP (plain or gated) with TransformerLens' hook points.
#include <torch/types.h>

#include "arrakis/hooks/hook_catalogue.hpp"
#include "arrakis/hooks/hook_registry.hpp"
#include "arrakis/model/config.hpp"
#include "arrakis/model/weights.hpp"

namespace arrakis {

torch::Tensor activation(Activation fn, const torch::Tensor& x);

/// x [batch, pos, d_model] -> [batch, pos, d_model] (before hook_mlp_out).
torch::Tensor mlp_forward(const ModelConfig& config, const MLPWeights& weights, const torch::Tensor& x,
                          const HookRegistry& hooks, const BlockHookIds& ids);

}  // namespace arrakis
