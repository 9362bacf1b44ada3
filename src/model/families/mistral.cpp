// Mistral: Llama's layout with grouped-query attention and sliding-window attention. As in Hugging Face 4.41's eager
// attention, a query at position i sees keys i - sliding_window .. i (sliding_window + 1 keys).
#include "model/families/llama_like.hpp"

namespace arrakis {

ModelFamily mistral_family() {
  static const LlamaLikeDefaults defaults{.vocab_size = 32000,
                                          .hidden_size = 4096,
                                          .intermediate_size = 14336,
                                          .num_hidden_layers = 32,
                                          .num_attention_heads = 32,
                                          .num_key_value_heads = 8,
                                          .max_position_embeddings = 4096 * 32,
                                          .norm_eps = 1e-6,
                                          .tie_word_embeddings = false,
                                          .rope_theta = 10000.0,
                                          .hidden_act = "silu"};
  return {"mistral",
          {"mistral"},
          {},
          [](const ConfigJson& j) {
            auto c = llama_like_config(j, "mistral", defaults);
            // Absent: the config class's default (4096); null: full attention.
            const bool absent = !j.json().contains("sliding_window");
            if (absent || j.has("sliding_window"))
              c.attn_windows.assign(c.n_layers, j.get_int("sliding_window", 4096, config_ranges::kWindow) + 1);
            return c;
          },
          [](WeightReader& r, const ModelConfig& c, const ConfigJson&) { return llama_like_weights(r, c, {}); }};
}

}  // namespace arrakis
