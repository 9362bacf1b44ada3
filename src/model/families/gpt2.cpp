// GPT-2 (GPT2LMHeadModel): learned positions, Conv1D weights stored [in, out], one fused c_attn projection laid out
// [d_model, (q|k|v) x heads x d_head], gelu_new, LayerNorm, lm_head tied to the token embedding.
#include <fmt/format.h>

#include "model/families/activation_names.hpp"
#include "model/families/model_family.hpp"

namespace arrakis {
namespace {

ModelConfig gpt2_config(const ConfigJson& j) {
  ModelConfig c;
  c.family = "gpt2";
  c.model_name = j.get_string("_name_or_path", "");
  c.n_layers = j.get_int("n_layer", 12, config_ranges::kLayers);  // defaults: GPT2Config's (GPT-2 small)
  c.d_model = j.get_int("n_embd", 768, config_ranges::kWidth);
  c.n_heads = j.get_int("n_head", 12, config_ranges::kHeads);
  if (c.d_model % c.n_heads != 0) j.fail(fmt::format("n_embd {} is not a multiple of n_head {}", c.d_model, c.n_heads));
  c.d_head = c.d_model / c.n_heads;
  c.d_mlp = j.get_int("n_inner", 4 * c.d_model, config_ranges::kWidth);
  c.d_vocab = j.get_int("vocab_size", 50257, config_ranges::kVocabulary);
  c.n_ctx = j.get_int("n_positions", j.get_int("n_ctx", 1024, config_ranges::kPositions), config_ranges::kPositions);
  c.eps = j.get_double("layer_norm_epsilon", 1e-5);
  c.act_fn = activation_from_hf(j.get_string("activation_function", "gelu_new"), j, "activation_function");
  c.normalization = NormType::LayerNorm;
  c.positional_embedding = PositionalEmbedding::Learned;
  c.tie_word_embeddings = j.get_bool("tie_word_embeddings", true);
  if (!j.get_bool("scale_attn_weights", true)) c.attn_scale = 1.0;
  c.scale_attn_by_inverse_layer_idx = j.get_bool("scale_attn_by_inverse_layer_idx", false);
  return c;
}

ModelWeights gpt2_weights(WeightReader& r, const ModelConfig& c, const ConfigJson&) {
  // GPT2LMHeadModel saves under "transformer."; GPT2Model saves the same tensors without the prefix.
  const std::string p = r.has("transformer.wte.weight") ? "transformer." : "";
  const int64_t d = c.d_model, h = c.n_heads, e = c.d_head, m = c.d_mlp;
  ModelWeights w;
  w.W_E = r.take(p + "wte.weight", {c.d_vocab, d}, "vocab_size x n_embd");
  w.W_pos = r.take(p + "wpe.weight", {c.n_ctx, d}, "n_positions x n_embd");
  auto norm = [&](const std::string& name) {
    return NormWeights{r.take(name + ".weight", {d}), r.take(name + ".bias", {d})};
  };
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string b = fmt::format("{}h.{}.", p, l);
    BlockWeights blk;
    blk.ln1 = norm(b + "ln_1");
    blk.ln2 = norm(b + "ln_2");
    // c_attn [d_model, 3 * d_model]: columns are (q | k | v), each heads x d_head. Slices are views.
    auto qkv = r.take(b + "attn.c_attn.weight", {d, 3 * d}, "n_embd x 3 n_embd");
    auto qkv_bias = r.take(b + "attn.c_attn.bias", {3 * d});
    auto heads_in = [&](int i) { return qkv.narrow(1, i * d, d).view({d, h, e}).permute({1, 0, 2}); };
    auto bias_in = [&](int i) { return qkv_bias.narrow(0, i * d, d).view({h, e}); };
    blk.attn.W_Q = heads_in(0);
    blk.attn.W_K = heads_in(1);
    blk.attn.W_V = heads_in(2);
    blk.attn.b_Q = bias_in(0);
    blk.attn.b_K = bias_in(1);
    blk.attn.b_V = bias_in(2);
    blk.attn.W_O = r.take(b + "attn.c_proj.weight", {d, d}).view({h, e, d});
    blk.attn.b_O = r.take(b + "attn.c_proj.bias", {d});
    blk.mlp.W_in = r.take(b + "mlp.c_fc.weight", {d, m}, "n_embd x n_inner");
    blk.mlp.b_in = r.take(b + "mlp.c_fc.bias", {m});
    blk.mlp.W_out = r.take(b + "mlp.c_proj.weight", {m, d}, "n_inner x n_embd");
    blk.mlp.b_out = r.take(b + "mlp.c_proj.bias", {d});
    w.blocks.push_back(std::move(blk));
  }
  w.ln_final = norm(p + "ln_f");
  if (!c.tie_word_embeddings)
    w.W_U = r.take("lm_head.weight", {c.d_vocab, d}).t();
  else {
    r.skip("lm_head.weight");  // some checkpoints store the tied copy anyway
    w.W_U = w.W_E.t();
  }
  return w;
}

}  // namespace

ModelFamily gpt2_family() {
  return {"gpt2",
          {"gpt2"},
          {{"hidden_size", "n_embd"},
           {"num_hidden_layers", "n_layer"},
           {"num_attention_heads", "n_head"},
           {"intermediate_size", "n_inner"},
           {"max_position_embeddings", "n_positions"},
           {"hidden_act", "activation_function"}},
          gpt2_config,
          gpt2_weights};
}

}  // namespace arrakis
