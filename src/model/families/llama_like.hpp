#pragma once
// What Llama, Mistral, Qwen2, Gemma, Phi-3 and StableLM share: config fields named alike, RMSNorm (or LayerNorm),
// rotary positions, SwiGLU-style gated MLPs, and Hugging Face's `model.layers.N.self_attn.*` tensor names.
#include <optional>
#include <string>

#include "model/families/model_family.hpp"

namespace arrakis {

/// A family's Hugging Face config defaults (what its PretrainedConfig subclass sets when a key is absent); each
/// family names every one.
struct LlamaLikeDefaults {
  int64_t vocab_size = 0, hidden_size = 0, intermediate_size = 0, num_hidden_layers = 0, num_attention_heads = 0;
  std::optional<int64_t> num_key_value_heads;  // nullopt: num_attention_heads
  int64_t max_position_embeddings = 0;
  double norm_eps = 0;
  bool tie_word_embeddings = false;
  double rope_theta = 10000.0;
  std::string hidden_act = "silu";
};

/// The fields every one of these families reads the same way: sizes, heads (head_dim where the config has it),
/// eps ("rms_norm_eps" or `eps_key`), rotary base and scaling, activation, tying. Gated MLP, NeoX rotary pairing.
ModelConfig llama_like_config(const ConfigJson& j, const std::string& family, const LlamaLikeDefaults& defaults,
                              const std::string& eps_key = "rms_norm_eps");

/// Hugging Face's `rope_scaling` object (null, linear, dynamic, llama3, su/longrope, yarn); arrakis::Error naming
/// the file and the type otherwise.
RopeScaling rope_scaling_from_hf(const ConfigJson& j, int64_t max_position_embeddings,
                                 int64_t original_max_position_embeddings);

/// The `model.` prefix of a CausalLM checkpoint ("" for a bare base model's).
std::string llama_like_prefix(const WeightReader& r);

struct LlamaLikeTensors {
  bool qkv_bias = false, o_bias = false, mlp_bias = false;
};

/// Reads embed_tokens, per layer input_layernorm / post_attention_layernorm (weight, plus bias for LayerNorm),
/// self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj, the final norm and lm_head (or ties it).
ModelWeights llama_like_weights(WeightReader& r, const ModelConfig& c, const LlamaLikeTensors& tensors);

/// The pieces the other layouts reuse.
NormWeights read_norm(WeightReader& r, const ModelConfig& c, const std::string& name);
void read_embeddings_and_head(WeightReader& r, const ModelConfig& c, const std::string& prefix, ModelWeights& w);

}  // namespace arrakis
