// Llama (LlamaForCausalLM; Llama 2 and 3): RMSNorm, rotary (rope_theta, and rope_scaling including Llama 3.1's
// "llama3"), grouped-query attention, SwiGLU, untied lm_head; optional attention and MLP biases.
#include "model/families/llama_like.hpp"

namespace arrakis {

ModelFamily llama_family() {
  static const LlamaLikeDefaults defaults{.vocab_size = 32000,
                                          .hidden_size = 4096,
                                          .intermediate_size = 11008,
                                          .num_hidden_layers = 32,
                                          .num_attention_heads = 32,
                                          .max_position_embeddings = 2048,
                                          .norm_eps = 1e-6,
                                          .tie_word_embeddings = false,
                                          .rope_theta = 10000.0,
                                          .hidden_act = "silu"};
  return {"llama",
          {"llama"},
          {},
          [](const ConfigJson& j) { return llama_like_config(j, "llama", defaults); },
          [](WeightReader& r, const ModelConfig& c, const ConfigJson& j) {
            const bool attention_bias = j.get_bool("attention_bias", false);
            return llama_like_weights(r, c, {attention_bias, attention_bias, j.get_bool("mlp_bias", false)});
          }};
}

}  // namespace arrakis
