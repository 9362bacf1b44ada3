#pragma once
// Text generation with a key/value cache, while the model's hooks stay active (a steering hook added with
// model.add_hook(...) shapes every generated token).
#include <torch/types.h>

#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "arrakis/model/hooked_transformer.hpp"

namespace arrakis {

struct GenerateOptions {
  int64_t max_new_tokens = 32;
  double temperature = 1.0;          // 0: greedy (argmax)
  int64_t top_k = 0;                 // sample among the k most likely tokens (0: all)
  double top_p = 1.0;                // sample among the smallest set whose probability reaches top_p
  uint64_t seed = 0;                 // sampling is reproducible for a seed
  std::vector<int64_t> stop_tokens;  // a sequence ends after any of these
  bool stop_at_eos = true;           // ...and after the tokenizer's end-of-sequence token
  bool use_kv_cache = true;          // false: recompute the whole sequence at every step (for checking)
  bool return_cache = false;         // also return the activation cache of the whole generated sequence
  NameFilter cache_names;            // which hook points that cache holds (default: all)
  /// Called after each step with the new token of every sequence [batch].
  std::function<void(int64_t step, const torch::Tensor& new_tokens)> on_step;
};

struct GenerateResult {
  torch::Tensor tokens;          // [batch, prompt + generated]; a finished sequence is padded with its stop token
  torch::Tensor attention_mask;  // [batch, prompt + generated]: 0 on prompt padding
  int64_t prompt_length = 0;
  std::vector<int64_t> generated_lengths;  // new tokens of each sequence, its stop token included
  ActivationCache cache;                   // when return_cache
  /// Each sequence as text, prompt and continuation (special tokens, padding and the stop token left out, as
  /// TransformerLens' generate returns it), when the model has a tokenizer.
  std::vector<std::string> texts;
};

/// Continues token ids [batch, pos] (with an attention mask when left-padded).
GenerateResult generate(HookedTransformer& model, const torch::Tensor& prompt, const GenerateOptions& options = {},
                        const torch::Tensor& attention_mask = {});
/// Continues a text (BOS first when the model prepends one by default).
GenerateResult generate(HookedTransformer& model, std::string_view prompt, const GenerateOptions& options = {});
/// Continues several texts at once, left-padded to the longest.
GenerateResult generate(HookedTransformer& model, std::span<const std::string> prompts,
                        const GenerateOptions& options = {});

/// The next token of each row of logits [batch, vocab] under the options' temperature / top-k / top-p.
torch::Tensor sample_next_token(const torch::Tensor& logits, const GenerateOptions& options,
                                torch::Generator& generator);

}  // namespace arrakis
