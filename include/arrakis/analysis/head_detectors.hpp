#pragma once
// Attention-head detectors: previous-token, duplicate-token and induction scores for every head, and attention
// entropy, from the attention patterns on sequences that repeat with a known period.
//
// Definitions (pattern[q, k] of one head, averaged over the batch; the repeating part starts at `offset`):
//   previous-token  = mean over q >= 1          of pattern[q, q - 1]
//   duplicate-token = mean over q >= offset + T of pattern[q, q - T]       (the earlier copy of the same token)
//   induction       = mean over q >= offset + T of pattern[q, q - T + 1]   (the token after the earlier copy)
//   entropy         = mean over q of -sum_k pattern[q, k] ln pattern[q, k]  (nats; 0 = all on one key)
// With offset 0 these are exactly the definitions of `arrakis heads`; generated sequences that start with a BOS
// token use offset 1 so the BOS is not counted as part of the repeats.
#include <torch/types.h>

#include <cstdint>
#include <optional>

#include "arrakis/model/hooked_transformer.hpp"

namespace arrakis {

struct HeadScores {
  torch::Tensor previous_token;   // [n_layers, n_heads]
  torch::Tensor duplicate_token;  // [n_layers, n_heads]
  torch::Tensor induction;        // [n_layers, n_heads]
  torch::Tensor entropy;          // [n_layers, n_heads]
};

/// How the tokens repeat.
struct RepeatPeriod {
  int64_t period = 0;  // length of the repeated segment (required)
  int64_t offset = 0;  // where the repeats start (1 after a BOS)
};

/// The scores from the patterns of one forward over `tokens` [batch, pos] (no padding), which repeat with period
/// `repeats.period` from position `repeats.offset` on. Patterns are reduced layer by layer inside a hook, never all
/// held at once.
HeadScores head_scores(HookedTransformer& model, const torch::Tensor& tokens, const RepeatPeriod& repeats);

/// The scores of one layer's pattern [batch, heads, q, k] (the reduction head_scores applies to each layer).
HeadScores layer_head_scores(const torch::Tensor& pattern, const RepeatPeriod& repeats);

struct RepeatedSequencesOptions {
  int64_t batch = 8;
  int64_t period = 20;        // tokens in the segment
  int64_t repeats = 2;        // copies of the segment
  int64_t low = 0, high = 0;  // token ids drawn uniformly from [low, high) (required: high)
  uint64_t seed = 0;
  std::optional<int64_t> bos;  // a BOS token first, when given
};

/// Seeded repeated random sequences: `repeats` copies of `period` tokens (without BOS), preceded by `bos` when given:
/// [batch, (1 +) period * repeats].
torch::Tensor repeated_random_sequences(const RepeatedSequencesOptions& options);

}  // namespace arrakis
