#pragma once
// Direct logit attribution: how much each layer, head and neuron writes directly (through the final norm's cached
// scale and the unembedding, skipping every later layer) into the logit difference of two tokens, or into one
// token's logit.
#include <torch/types.h>

#include <string>
#include <vector>

#include "arrakis/analysis/metrics.hpp"
#include "arrakis/hooks/activation_cache.hpp"
#include "arrakis/model/hooked_transformer.hpp"

namespace arrakis {

struct LogitAttribution {
  std::vector<std::string> component_labels;  // "embed", "pos_embed", "0_attn_out", "0_mlp_out", ...
  torch::Tensor components;  // [components, batch]: decompose_resid's components (attn_out includes b_O, mlp_out b_out)
  torch::Tensor heads;       // [n_layers, n_heads, batch]: each head's z_h W_O[h] (no b_O)
  torch::Tensor neurons;     // [n_layers, d_mlp, batch] (no b_out); undefined unless asked for and the model has MLPs
  torch::Tensor bias;        // [batch]: ln_final's bias and b_U, which no component writes
  torch::Tensor total;       // [batch]: the logit difference (or logit) read from the logits
  // components.sum(0) + bias == total (exactly, up to float rounding): the final norm's scale is the cached one.
};

struct LogitAttributionOptions {
  torch::Tensor answer;        // int64 scalar or [batch]: the token whose logit is attributed (required)
  torch::Tensor wrong;         // int64 scalar or [batch]: attribute logit(answer) - logit(wrong); undefined: the logit
  ReadPosition position = {};  // where each prompt is read (default: the last position)
  bool neurons = false;        // also every MLP neuron (LogitAttribution::neurons)
  torch::Tensor attention_mask;  // run_direct_logit_attribution: [batch, pos] for padded prompts
};

/// Attribution of logit(answer) - logit(wrong) (the logit of `answer` alone when `wrong` is undefined) at each
/// prompt's read position. The cache must hold hook_embed, (hook_pos_embed,) attn_out, mlp_out, z (or result), post
/// (for neurons) and ln_final.hook_scale.
LogitAttribution direct_logit_attribution(const HookedTransformer& model, const ActivationCache& cache,
                                          const torch::Tensor& logits, const LogitAttributionOptions& options);
/// Runs the model on `tokens`, caching only what the attribution reads.
LogitAttribution run_direct_logit_attribution(HookedTransformer& model, const torch::Tensor& tokens,
                                              const LogitAttributionOptions& options);

}  // namespace arrakis
