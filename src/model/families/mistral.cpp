// Mistral: Llama's layout with grouped-query attention and sliding-window attention. As in Hugging Face 4.41's eager
// attention, a query at position i sees keys i - sliding_window .. i (sliding_window + 1 keys).
#include "model/families/llama_like.hpp"

namespace arrakis {

ModelFamily mistral_family() {
  static const LlamaLikeDefaults defaults{32000, 4096, 14336, 32, 32, 8, 4096 * 32, 1e-6, false, 10000.0, "silu"};
  return {"mistral", {"mistral"}, {},
          [](const ConfigJson& j) {
            auto c = llama_like_config(j, "mistral", defaults);
            // Absent: the config class's default (4096); null: full attention.
            const bool absent = !j.json().contains("sliding_window");
            if (absent || j.has("sliding_window"))
              c.attn_windows.assign(c.n_layers, j.get_int("sliding_window", 4096) + 1);
            return c;
          },
          [](WeightReader& r, const ModelConfig& c, const ConfigJson&) { return llama_like_weights(r, c, {}); }};
}

}  // namespace arrakis
