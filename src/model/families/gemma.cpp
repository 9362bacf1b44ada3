// Gemma: Llama's layout with head_dim independent of hidden_size / heads, (1 + w) RMSNorm, the embedding multiplied
// by sqrt(hidden_size), a tanh-GELU gated MLP (hidden_activation; Hugging Face 4.41 ignores hidden_act here), and the
// output tied to the embedding.
#include <cmath>

#include "model/families/activation_names.hpp"
#include "model/families/llama_like.hpp"

namespace arrakis {

ModelFamily gemma_family() {
  static const LlamaLikeDefaults defaults{.vocab_size = 256000,
                                          .hidden_size = 3072,
                                          .intermediate_size = 24576,
                                          .num_hidden_layers = 28,
                                          .num_attention_heads = 16,
                                          .num_key_value_heads = 16,
                                          .max_position_embeddings = 8192,
                                          .norm_eps = 1e-6,
                                          .tie_word_embeddings = true,
                                          .rope_theta = 10000.0,
                                          .hidden_act = "gelu_pytorch_tanh"};
  return {"gemma",
          {"gemma"},
          {{"hidden_act", "hidden_activation"}},
          [](const ConfigJson& j) {
            auto c = llama_like_config(j, "gemma", defaults);
            c.d_head = j.get_int("head_dim", 256, config_ranges::kWidth);
            c.normalization = NormType::RMSNormOnePlus;
            c.embedding_multiplier = std::sqrt(static_cast<double>(c.d_model));
            c.act_fn =
                activation_from_hf(j.get_string("hidden_activation", "gelu_pytorch_tanh"), j, "hidden_activation");
            return c;
          },
          [](WeightReader& r, const ModelConfig& c, const ConfigJson& j) {
            const bool attention_bias = j.get_bool("attention_bias", false);
            return llama_like_weights(r, c, {attention_bias, attention_bias, false});
          }};
}

}  // namespace arrakis
