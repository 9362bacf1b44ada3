// StableLM (StableLmForCausalLM): LayerNorm with bias, partial rotary (partial_rotary_factor of each head), optional
// q/k/v biases, optional per-head q/k LayerNorm (qk_layernorm, no bias), and optional parallel residual, in which
// attention and MLP both read the one input_layernorm (there is no post_attention_layernorm).
#include <fmt/format.h>

#include "model/families/hf_layouts.hpp"
#include "model/families/llama_like.hpp"

namespace arrakis {
namespace {

ModelConfig stablelm_config(const ConfigJson& j) {
  static const LlamaLikeDefaults defaults{.vocab_size = 50304,
                                          .hidden_size = 2560,
                                          .intermediate_size = 6912,
                                          .num_hidden_layers = 32,
                                          .num_attention_heads = 32,
                                          .num_key_value_heads = 32,
                                          .max_position_embeddings = 4096,
                                          .norm_eps = 1e-5,
                                          .tie_word_embeddings = false,
                                          .rope_theta = 10000.0,
                                          .hidden_act = "silu"};
  auto c = llama_like_config(j, "stable-lm", defaults, "layer_norm_eps");
  c.normalization = NormType::LayerNorm;
  c.rotary_dim = rotary_dims_from_fraction(j, "partial_rotary_factor", 0.25, c.d_head);
  if (j.get_bool("qk_layernorm", false)) c.qk_norm = NormType::LayerNorm;
  c.parallel_attn_mlp = c.parallel_shared_norm = j.get_bool("use_parallel_residual", false);
  return c;
}

// Per-head norms are saved one module per head: "<name>.norms.<h>.weight" of [d_head] each.
NormWeights read_head_norms(WeightReader& r, const std::string& name, int64_t heads, int64_t d_head) {
  std::vector<torch::Tensor> per_head;
  for (int64_t h = 0; h < heads; ++h) per_head.push_back(r.take(fmt::format("{}.norms.{}.weight", name, h), {d_head}));
  return {torch::stack(per_head), {}};
}

ModelWeights stablelm_weights(WeightReader& r, const ModelConfig& c, const ConfigJson& j) {
  const std::string p = llama_like_prefix(r);
  const int64_t h = c.n_heads, kv = c.kv_heads(), e = c.d_head;
  const bool qkv_bias = j.get_bool("use_qkv_bias", false);
  // Attention and MLP tensors are named as Llama's; only the per-head norms are StableLM's own.
  ModelWeights w = llama_like_weights(r, c, {.qkv_bias = qkv_bias});
  if (c.qk_norm != NormType::None)
    for (int64_t l = 0; l < c.n_layers; ++l) {
      const std::string b = fmt::format("{}layers.{}.self_attn.", p, l);
      w.blocks[l].attn.q_norm = read_head_norms(r, b + "q_layernorm", h, e);
      w.blocks[l].attn.k_norm = read_head_norms(r, b + "k_layernorm", kv, e);
    }
  return w;
}

}  // namespace

ModelFamily stablelm_family() { return {"stable-lm", {"stablelm"}, {}, stablelm_config, stablelm_weights}; }

}  // namespace arrakis
