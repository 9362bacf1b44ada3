#pragma once
// The logit lens: the residual stream at every layer boundary and position, decoded as if it were the last one
// (final norm, then unembedding): which tokens each layer already predicts, and how probable and highly ranked a
// chosen token is at each layer.
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "arrakis/hooks/activation_cache.hpp"
#include "arrakis/model/hooked_transformer.hpp"

namespace arrakis {

struct LogitLensOptions {
  int64_t top_k = 5;
  bool incl_mid = false;  // also decode each block's resid_mid
  /// TransformerLens' `accumulated_resid(apply_ln=True)` normalises every layer's stream by the *final* layer's
  /// cached scale; by default each stream is normalised by its own statistics, as the final norm would if the model
  /// stopped there (the logit lens proper). True reproduces TransformerLens.
  bool final_cached_scale = false;
  /// int64 [batch, pos]: the token tracked at each position (probability and rank per layer). Undefined: the
  /// model's own final prediction (top-1 of the last layer), i.e. "from which layer on is the answer there".
  torch::Tensor targets;
  torch::Tensor attention_mask;  // run_logit_lens: [batch, pos] for padded prompts
};

struct LogitLens {
  std::vector<std::string> labels;  // one per decoded stream: "0_pre", ("0_mid",) ..., "final_post"
  torch::Tensor top_tokens;         // int64 [n, batch, pos, k]
  torch::Tensor top_probs;          // [n, batch, pos, k]
  torch::Tensor targets;            // int64 [batch, pos]
  torch::Tensor target_probs;       // [n, batch, pos]
  torch::Tensor target_ranks;       // int64 [n, batch, pos]: how many tokens have a strictly larger logit (0 = top)
};

/// The lens over a cache holding every resid_pre, the last resid_post (and resid_mid with incl_mid; and
/// ln_final.hook_scale with final_cached_scale).
LogitLens logit_lens(const HookedTransformer& model, const ActivationCache& cache,
                     const LogitLensOptions& options = {});
/// Runs the model on `tokens` caching just what the lens reads, then decodes.
LogitLens run_logit_lens(HookedTransformer& model, const torch::Tensor& tokens, const LogitLensOptions& options = {});

}  // namespace arrakis
