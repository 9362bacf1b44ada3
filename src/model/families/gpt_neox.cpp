// GPT-NeoX (Pythia): one fused query_key_value projection laid out per head ([heads, (q | k | v), d_head] rows),
// rotary on the first rotary_pct of each head (NeoX pairing), LayerNorm, attention and MLP in parallel by default
// (each with its own norm), gelu, untied embed_out.
#include <fmt/format.h>

#include "model/families/activation_names.hpp"
#include "model/families/hf_layouts.hpp"
#include "model/families/llama_like.hpp"

namespace arrakis {
namespace {

ModelConfig gpt_neox_config(const ConfigJson& j) {
  ModelConfig c;
  c.family = "gpt-neox";
  c.model_name = j.get_string("_name_or_path", "");
  c.n_layers = j.get_int("num_hidden_layers", 44, config_ranges::kLayers);
  c.d_model = j.get_int("hidden_size", 6144, config_ranges::kWidth);
  c.n_heads = j.get_int("num_attention_heads", 64, config_ranges::kHeads);
  if (c.d_model % c.n_heads != 0)
    j.fail(fmt::format("hidden_size {} is not a multiple of num_attention_heads {}", c.d_model, c.n_heads));
  c.d_head = c.d_model / c.n_heads;
  c.d_mlp = j.get_int("intermediate_size", 24576, config_ranges::kWidth);
  c.d_vocab = j.get_int("vocab_size", 50432, config_ranges::kVocabulary);
  c.n_ctx = j.get_int("max_position_embeddings", 2048, config_ranges::kPositions);
  c.eps = j.get_double("layer_norm_eps", 1e-5);
  c.act_fn = activation_from_hf(j.get_string("hidden_act", "gelu"), j, "hidden_act");
  c.normalization = NormType::LayerNorm;
  c.positional_embedding = PositionalEmbedding::Rotary;
  c.rotary_style = RotaryStyle::NeoX;
  c.rotary_dim = rotary_dims_from_fraction(j, "rotary_pct", 0.25, c.d_head);
  c.rotary_base = j.get_double("rotary_emb_base", 10000.0);
  c.rope_scaling = rope_scaling_from_hf(j, c.n_ctx, c.n_ctx);
  c.parallel_attn_mlp = j.get_bool("use_parallel_residual", true);
  c.tie_word_embeddings = j.get_bool("tie_word_embeddings", false);
  return c;
}

ModelWeights gpt_neox_weights(WeightReader& r, const ModelConfig& c, const ConfigJson& j) {
  const std::string p = r.has("gpt_neox.embed_in.weight") ? "gpt_neox." : "";
  const int64_t d = c.d_model, h = c.n_heads, e = c.d_head, m = c.d_mlp;
  const bool bias = j.get_bool("attention_bias", true);
  ModelWeights w;
  w.W_E = r.take(p + "embed_in.weight", {c.d_vocab, d}, "vocab_size x hidden_size");
  auto norm = [&](const std::string& name) {
    return NormWeights{r.take(name + ".weight", {d}), r.take(name + ".bias", {d})};
  };
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string b = fmt::format("{}layers.{}.", p, l);
    BlockWeights blk;
    blk.ln1 = norm(b + "input_layernorm");
    blk.ln2 = norm(b + "post_attention_layernorm");
    auto& a = blk.attn;
    // The rows of query_key_value are [head][q | k | v][d_head]: no head's q, k or v is one block of rows, so these
    // are the only weights a load copies (into the [d_model, heads * d_head] layout); the file's pages then go.
    auto qkv = r.take(b + "attention.query_key_value.weight", {3 * d, d}, "3 hidden_size x hidden_size");
    auto per_head = qkv.view({h, 3, e, d});
    auto heads_in = [&](int64_t i) {
      return per_head.select(1, i).permute({2, 0, 1}).contiguous().permute({1, 0, 2});  // [h, d, e]
    };
    a.W_Q = heads_in(0);
    a.W_K = heads_in(1);
    a.W_V = heads_in(2);
    r.release(qkv);
    if (bias) {
      auto qkv_bias = r.take(b + "attention.query_key_value.bias", {3 * d}).view({h, 3, e});
      a.b_Q = qkv_bias.select(1, 0).contiguous();
      a.b_K = qkv_bias.select(1, 1).contiguous();
      a.b_V = qkv_bias.select(1, 2).contiguous();
    } else {
      a.b_Q = a.b_K = a.b_V = r.zeros({h, e});
    }
    a.W_O = heads_out_from_linear(r.take(b + "attention.dense.weight", {d, d}), h, e);
    a.b_O = bias ? r.take(b + "attention.dense.bias", {d}) : r.zeros({d});
    blk.mlp.W_in = matrix_from_linear(r.take(b + "mlp.dense_h_to_4h.weight", {m, d}, "intermediate_size x hidden"));
    blk.mlp.b_in = r.take(b + "mlp.dense_h_to_4h.bias", {m});
    blk.mlp.W_out = matrix_from_linear(r.take(b + "mlp.dense_4h_to_h.weight", {d, m}, "hidden x intermediate_size"));
    blk.mlp.b_out = r.take(b + "mlp.dense_4h_to_h.bias", {d});
    w.blocks.push_back(std::move(blk));
  }
  w.ln_final = norm(p + "final_layer_norm");
  w.W_U = read_unembedding(r, c, w.W_E, "embed_out.weight");
  return w;
}

}  // namespace

ModelFamily gpt_neox_family() {
  return {"gpt-neox", {"gpt_neox"}, {{"rope_theta", "rotary_emb_base"}}, gpt_neox_config, gpt_neox_weights};
}

}  // namespace arrakis
