// Qwen2: Llama's layout with q/k/v biases (no o_proj bias) and a large rope_theta. With use_sliding_window, layers
// from max_window_layers on use a sliding window (sliding_window + 1 keys, as Mistral).
#include "model/families/llama_like.hpp"

namespace arrakis {

ModelFamily qwen2_family() {
  static const LlamaLikeDefaults defaults{.vocab_size = 151936,
                                          .hidden_size = 4096,
                                          .intermediate_size = 22016,
                                          .num_hidden_layers = 32,
                                          .num_attention_heads = 32,
                                          .num_key_value_heads = 32,
                                          .max_position_embeddings = 32768,
                                          .norm_eps = 1e-6,
                                          .tie_word_embeddings = false,
                                          .rope_theta = 10000.0,
                                          .hidden_act = "silu"};
  return {"qwen2",
          {"qwen2"},
          {},
          [](const ConfigJson& j) {
            auto c = llama_like_config(j, "qwen2", defaults);
            if (j.get_bool("use_sliding_window", false)) {
              const int64_t window = j.get_int("sliding_window", 4096, config_ranges::kWindow),
                            first = j.get_int("max_window_layers", 28, config_ranges::kLayerIndex);
              c.attn_windows.assign(c.n_layers, 0);
              for (int64_t l = first; l < c.n_layers; ++l) c.attn_windows[l] = window + 1;
            }
            return c;
          },
          [](WeightReader& r, const ModelConfig& c, const ConfigJson&) {
            return llama_like_weights(r, c, {.qkv_bias = true});
          }};
}

}  // namespace arrakis
