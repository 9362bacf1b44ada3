#pragma once
// ModelConfig: one family-agnostic description of a decoder-only transformer, in TransformerLens' terms
// (HookedTransformerConfig). Family adapters fill it from a Hugging Face config.json; the one HookedTransformer
// runs whatever it describes.
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace arrakis {

enum class NormType {
  None,            // no normalization (e.g. the grokking and induction models)
  LayerNorm,       // centre, scale, then * w + b
  LayerNormPre,    // centre and scale only (a LayerNorm whose weights were folded into the next layer)
  RMSNorm,         // scale, then * w
  RMSNormPre,      // scale only (folded RMSNorm)
  RMSNormOnePlus,  // scale, then * (1 + w) (Gemma)
};

enum class Activation {
  Relu,
  Gelu,      // exact erf GELU
  GeluTanh,  // tanh approximation: GPT-2's gelu_new, gelu_pytorch_tanh, gelu_fast
  Silu,
};

enum class PositionalEmbedding {
  None,
  Learned,  // a W_pos table added to the embedding (GPT-2, GPT-Neo)
  Rotary,   // rotary position embeddings applied to queries and keys
};

/// How rotary embeddings pair dimensions: NeoX rotates (x[i], x[i + d/2]); GPT-J rotates (x[2i], x[2i+1]).
enum class RotaryStyle { NeoX, GPTJ };

/// Rotary scaling for contexts longer than a model was trained on (Hugging Face's `rope_scaling`).
struct RopeScaling {
  enum class Type {
    None,
    Linear,    // positions divided by `factor`
    Dynamic,   // NTK-aware: the base grows once a sequence outgrows max_position_embeddings
    Llama3,    // Llama 3.1: low frequencies divided by `factor`, high ones kept, a smooth band between
    LongRope,  // Phi-3 "su"/"longrope": per-dimension factors (short or long by sequence length), scaled cos/sin
    Yarn,      // Phi-3 "yarn": per-dimension factors as LongRope, cos/sin scaled by 0.1 ln(scale) + 1
  };
  Type type = Type::None;
  double factor = 1.0;
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  // Llama3
  int64_t original_max_position_embeddings = 0;          // Llama3, LongRope, Yarn
  int64_t max_position_embeddings = 0;                   // Dynamic, LongRope, Yarn
  std::vector<double> short_factor, long_factor;         // LongRope, Yarn: one per rotary frequency
};

struct ModelConfig {
  std::string family = "custom";  // the adapter that produced it: "gpt2", "transformer_lens", ...
  std::string model_name;         // for messages and records

  int64_t n_layers = 0;
  int64_t d_model = 0;
  int64_t n_heads = 0;
  int64_t d_head = 0;
  int64_t n_kv_heads = 0;  // key/value heads (grouped-query attention); 0 means n_heads
  int64_t d_mlp = 0;       // 0 for attention-only models
  int64_t d_vocab = 0;
  int64_t d_vocab_out = 0;  // 0 means d_vocab
  int64_t n_ctx = 0;        // the longest sequence the model accepts

  NormType normalization = NormType::LayerNorm;
  double eps = 1e-5;
  Activation act_fn = Activation::GeluTanh;
  bool attn_only = false;
  bool gated_mlp = false;             // act(x W_gate) * (x W_in), as SwiGLU / GeGLU
  bool parallel_attn_mlp = false;     // attention and MLP both read resid_pre (GPT-J, NeoX)
  bool parallel_shared_norm = false;  // with parallel_attn_mlp: the MLP reads ln1's output; there is no ln2
                                      // (StableLM 2 12B)
  NormType qk_norm = NormType::None;  // a per-head norm of queries and keys before rotary (StableLM qk_layernorm)

  PositionalEmbedding positional_embedding = PositionalEmbedding::Learned;
  int64_t rotary_dim = 0;  // dimensions of each head that rotate (0 = all of d_head)
  double rotary_base = 10000.0;
  RotaryStyle rotary_style = RotaryStyle::NeoX;
  RopeScaling rope_scaling;

  double attn_scale = 0.0;                       // scores are divided by this; 0 means sqrt(d_head)
  bool scale_attn_by_inverse_layer_idx = false;  // GPT-2 option: also divide by (layer + 1)
  /// Keys each layer's queries may see, counting the query itself: 0 = all earlier positions (global attention),
  /// w > 0 = the last w positions (local / sliding-window attention). Empty means global everywhere.
  std::vector<int64_t> attn_windows;

  bool tie_word_embeddings = false;
  double embedding_multiplier = 1.0;  // the embedding is multiplied by this (Gemma: sqrt(d_model))
  bool default_prepend_bos = true;
  torch::Dtype dtype = torch::kFloat32;

  int64_t kv_heads() const { return n_kv_heads > 0 ? n_kv_heads : n_heads; }
  int64_t vocab_out() const { return d_vocab_out > 0 ? d_vocab_out : d_vocab; }
  int64_t rotary_dims() const { return rotary_dim > 0 ? rotary_dim : d_head; }
  double effective_attn_scale() const;
  int64_t attn_window(int64_t layer) const;
  bool has_mlp() const { return !attn_only && d_mlp > 0; }

  /// Throws arrakis::Error naming the first field that is missing or inconsistent.
  void validate() const;
};

std::string to_string(NormType);
std::string to_string(Activation);
std::string to_string(PositionalEmbedding);

}  // namespace arrakis
