#include "model/families/llama_like.hpp"

#include <fmt/format.h>

#include "model/families/activation_names.hpp"
#include "model/families/hf_layouts.hpp"

namespace arrakis {

ModelConfig llama_like_config(const ConfigJson& j, const std::string& family, const LlamaLikeDefaults& d,
                              const std::string& eps_key) {
  ModelConfig c;
  c.family = family;
  c.model_name = j.get_string("_name_or_path", "");
  c.d_vocab = j.get_int("vocab_size", d.vocab_size, config_ranges::kVocabulary);
  c.d_model = j.get_int("hidden_size", d.hidden_size, config_ranges::kWidth);
  c.d_mlp = j.get_int("intermediate_size", d.intermediate_size, config_ranges::kWidth);
  c.n_layers = j.get_int("num_hidden_layers", d.num_hidden_layers, config_ranges::kLayers);
  c.n_heads = j.get_int("num_attention_heads", d.num_attention_heads, config_ranges::kHeads);
  c.n_kv_heads = j.get_int("num_key_value_heads", d.num_key_value_heads.value_or(c.n_heads), config_ranges::kHeads);
  if (c.n_heads <= 0 || (!j.has("head_dim") && c.d_model % c.n_heads != 0))
    j.fail(fmt::format("hidden_size {} is not a multiple of num_attention_heads {}", c.d_model, c.n_heads));
  c.d_head = j.get_int("head_dim", c.d_model / c.n_heads, config_ranges::kWidth);
  c.n_ctx = j.get_int("max_position_embeddings", d.max_position_embeddings, config_ranges::kPositions);
  c.eps = j.get_double(eps_key, d.norm_eps);
  c.act_fn = activation_from_hf(j.get_string("hidden_act", d.hidden_act), j, "hidden_act");
  c.gated_mlp = true;
  c.normalization = NormType::RMSNorm;
  c.positional_embedding = PositionalEmbedding::Rotary;
  c.rotary_style = RotaryStyle::NeoX;
  c.rotary_base = j.get_double("rope_theta", d.rope_theta);
  c.rope_scaling = rope_scaling_from_hf(
      j, c.n_ctx, j.get_int("original_max_position_embeddings", c.n_ctx, config_ranges::kPositions));
  c.tie_word_embeddings = j.get_bool("tie_word_embeddings", d.tie_word_embeddings);
  return c;
}

RopeScaling rope_scaling_from_hf(const ConfigJson& j, int64_t max_position_embeddings,
                                 int64_t original_max_position_embeddings) {
  RopeScaling s;
  if (!j.has("rope_scaling")) return s;
  const ConfigJson r(j.json()["rope_scaling"], j.source() + " rope_scaling");
  if (!r.json().is_object()) j.fail("'rope_scaling' must be an object or null");
  const std::string type = r.get_string("rope_type", r.get_string("type", ""));
  s.max_position_embeddings = max_position_embeddings;
  s.original_max_position_embeddings = r.get_int("original_max_position_embeddings", original_max_position_embeddings);
  auto factors = [&](const char* key) {
    if (!r.has(key) || !r.json()[key].is_array()) r.fail(fmt::format("'{}' must be a list of numbers", key));
    std::vector<double> out;
    for (const auto& item : r.json()[key]) {
      if (!item.is_number())
        r.fail(fmt::format("'{}'[{}] must be a number, not {}", key, out.size(), item.dump().substr(0, 40)));
      out.push_back(item.get<double>());
    }
    return out;
  };
  if (type == "linear" || type == "dynamic") {
    s.type = type == "linear" ? RopeScaling::Type::Linear : RopeScaling::Type::Dynamic;
    s.factor = r.get_double("factor");
  } else if (type == "llama3") {
    s.type = RopeScaling::Type::Llama3;
    s.factor = r.get_double("factor");
    s.low_freq_factor = r.get_double("low_freq_factor");
    s.high_freq_factor = r.get_double("high_freq_factor");
    s.original_max_position_embeddings = r.get_int("original_max_position_embeddings");
  } else if (type == "su" || type == "longrope" || type == "yarn") {
    s.type = type == "yarn" ? RopeScaling::Type::Yarn : RopeScaling::Type::LongRope;
    s.short_factor = factors("short_factor");
    s.long_factor = factors("long_factor");
  } else if (type == "default" || type.empty()) {
    return RopeScaling{};
  } else {
    r.fail(fmt::format("type '{}' is not supported (linear, dynamic, llama3, su, longrope, yarn)", type));
  }
  return s;
}

std::string llama_like_prefix(const WeightReader& r) { return r.has("model.embed_tokens.weight") ? "model." : ""; }

NormWeights read_norm(WeightReader& r, const ModelConfig& c, const std::string& name) {
  NormWeights n;
  n.w = r.take(name + ".weight", {c.d_model});
  if (c.normalization == NormType::LayerNorm) n.b = r.take(name + ".bias", {c.d_model});
  return n;
}

void read_embeddings_and_head(WeightReader& r, const ModelConfig& c, const std::string& prefix, ModelWeights& w) {
  w.W_E = r.take(prefix + "embed_tokens.weight", {c.d_vocab, c.d_model}, "vocab_size x hidden_size");
  w.ln_final = read_norm(r, c, prefix + "norm");
  w.W_U = read_unembedding(r, c, w.W_E, "lm_head.weight");
}

ModelWeights llama_like_weights(WeightReader& r, const ModelConfig& c, const LlamaLikeTensors& t) {
  const std::string p = llama_like_prefix(r);
  const int64_t d = c.d_model, h = c.n_heads, kv = c.kv_heads(), e = c.d_head, m = c.d_mlp;
  ModelWeights w;
  read_embeddings_and_head(r, c, p, w);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string b = fmt::format("{}layers.{}.", p, l);
    BlockWeights blk;
    blk.ln1 = read_norm(r, c, b + "input_layernorm");
    if (!c.parallel_shared_norm) blk.ln2 = read_norm(r, c, b + "post_attention_layernorm");
    auto& a = blk.attn;
    a.W_Q = heads_in_from_linear(r.take(b + "self_attn.q_proj.weight", {h * e, d}, "heads x head_dim, hidden"), h, e);
    a.W_K =
        heads_in_from_linear(r.take(b + "self_attn.k_proj.weight", {kv * e, d}, "kv heads x head_dim, hidden"), kv, e);
    a.W_V =
        heads_in_from_linear(r.take(b + "self_attn.v_proj.weight", {kv * e, d}, "kv heads x head_dim, hidden"), kv, e);
    a.W_O = heads_out_from_linear(r.take(b + "self_attn.o_proj.weight", {d, h * e}), h, e);
    a.b_Q = t.qkv_bias ? heads_bias(r.take(b + "self_attn.q_proj.bias", {h * e}), h, e) : r.zeros({h, e});
    a.b_K = t.qkv_bias ? heads_bias(r.take(b + "self_attn.k_proj.bias", {kv * e}), kv, e) : r.zeros({kv, e});
    a.b_V = t.qkv_bias ? heads_bias(r.take(b + "self_attn.v_proj.bias", {kv * e}), kv, e) : r.zeros({kv, e});
    a.b_O = t.o_bias ? r.take(b + "self_attn.o_proj.bias", {d}) : r.zeros({d});
    blk.mlp.W_gate = matrix_from_linear(r.take(b + "mlp.gate_proj.weight", {m, d}, "intermediate_size x hidden"));
    blk.mlp.W_in = matrix_from_linear(r.take(b + "mlp.up_proj.weight", {m, d}, "intermediate_size x hidden"));
    blk.mlp.W_out = matrix_from_linear(r.take(b + "mlp.down_proj.weight", {d, m}, "hidden x intermediate_size"));
    blk.mlp.b_in = t.mlp_bias ? r.take(b + "mlp.up_proj.bias", {m}) : r.zeros({m});
    blk.mlp.b_out = t.mlp_bias ? r.take(b + "mlp.down_proj.bias", {d}) : r.zeros({d});
    if (t.mlp_bias && r.has(b + "mlp.gate_proj.bias"))
      r.fail(b + "mlp.gate_proj.bias", "a bias on the gate projection is not supported (no supported family has one)");
    w.blocks.push_back(std::move(blk));
  }
  return w;
}

}  // namespace arrakis
