// Llama (LlamaForCausalLM; Llama 2 and 3): RMSNorm, rotary (rope_theta, and rope_scaling including Llama 3.1's
// "llama3"), grouped-query attention, SwiGLU, untied lm_head; optional attention and MLP biases.
#include "model/families/llama_like.hpp"

namespace arrakis {

ModelFamily llama_family() {
  static const LlamaLikeDefaults defaults{32000, 4096, 11008, 32, 32, std::nullopt, 2048, 1e-6, false, 10000.0, "silu"};
  return {"llama", {"llama"}, {},
          [](const ConfigJson& j) { return llama_like_config(j, "llama", defaults); },
          [](WeightReader& r, const ModelConfig& c, const ConfigJson& j) {
            const bool attention_bias = j.get_bool("attention_bias", false);
            return llama_like_weights(r, c, {attention_bias, attention_bias, j.get_bool("mlp_bias", false)});
          }};
}

}  // namespace arrakis
