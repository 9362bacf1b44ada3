#pragma once
// Seeded random models of every family for the unit tests: the invariants (hooks, the cache, patching fast = naive,
// generation, decompositions) need a model, not a reference, so they run on a fresh clone without ../shared.
// Shaped like ../shared's Hugging Face fixtures (d_model 64, 2 layers, 4 heads, vocabulary 512, 64 positions) and
// initialised as Hugging Face initialises them (normal matrices, zero biases, unit norm weights) but with a standard
// deviation of 0.1 instead of 0.02: at 0.02 every attention pattern is nearly uniform, so patching a query or a key
// would change nothing measurable and the tests that check a patch does something could not tell.
#include <filesystem>
#include <string>
#include <vector>

#include "arrakis/model/auto_model.hpp"
#include "arrakis/model/transformer_lens_format.hpp"
#include "test_support.hpp"

namespace arrakis::test {

/// Every family HookedAutoModel builds, for INSTANTIATE_TEST_SUITE_P.
inline const std::vector<std::string>& model_families_under_test() {
  static const std::vector<std::string> families = {"gpt2", "gpt-neo", "gpt-neox", "llama",    "gemma",
                                                    "phi3", "qwen2",   "mistral",  "stable-lm"};
  return families;
}

/// The family's random model config: grouped-query (2 key/value heads) where the family has that option, StableLM
/// with its per-head query/key norms, Gemma with head_dim 16 (its default is 256).
inline HookedAutoConfig random_model_config(const std::string& family, uint64_t seed = 0) {
  HookedAutoConfig c{.name = family,
                     .vocab_size = 512,
                     .hidden_size = 64,
                     .num_hidden_layers = 2,
                     .num_attention_heads = 4,
                     .max_position_embeddings = 64};
  const bool gpt_like = family == "gpt2" || family == "gpt-neo" || family == "gpt-neox";  // d_mlp = 4 d_model
  if (!gpt_like) {
    c.intermediate_size = 160;
    c.num_key_value_heads = 2;
  }
  if (family == "gemma") c.head_dim = 16;
  if (family == "stable-lm") c.extra["qk_layernorm"] = true;
  if (family == "llama") c.tie_word_embeddings = false;
  c.seed = seed;
  c.initializer_range = 0.1;
  return c;
}

inline HookedAutoModel random_model(const std::string& family, uint64_t seed = 0) {
  return HookedAutoModel(random_model_config(family, seed));
}

/// The family's random model saved as a checkpoint folder (TransformerLens format), for tests of the command line.
inline std::filesystem::path saved_random_model(const std::string& family, uint64_t seed = 0) {
  auto dir = temp_dir("random-model-" + family + "-" + std::to_string(seed));
  save_transformer_lens(random_model(family, seed), dir);
  return dir;
}

/// A gtest parameter name for a family ("stable-lm" -> "stable_lm").
inline std::string family_test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (auto& ch : name)
    if (ch == '-') ch = '_';
  return name;
}

}  // namespace arrakis::test
