// Qwen2: Llama's layout with q/k/v biases (no o_proj bias) and a large rope_theta. With use_sliding_window, layers
// from max_window_layers on use a sliding window (sliding_window + 1 keys, as Mistral).
#include "model/families/llama_like.hpp"

namespace arrakis {

ModelFamily qwen2_family() {
  static const LlamaLikeDefaults defaults{151936, 4096, 22016, 32, 32, 32, 32768, 1e-6, false, 10000.0, "silu"};
  return {"qwen2", {"qwen2"}, {},
          [](const ConfigJson& j) {
            auto c = llama_like_config(j, "qwen2", defaults);
            if (j.get_bool("use_sliding_window", false)) {
              const int64_t window = j.get_int("sliding_window", 4096), first = j.get_int("max_window_layers", 28);
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
