#include "arrakis/model/transformer_lens_format.hpp"

#include <fmt/format.h>

#include <cmath>
#include <fstream>

#include "arrakis/error.hpp"
#include "arrakis/io/checkpoint.hpp"
#include "arrakis/model/hooked_transformer.hpp"
#include "model/families/activation_names.hpp"
#include "model/families/weight_reader.hpp"
#include "util/write_file.hpp"

namespace arrakis {

bool is_transformer_lens_config(const ConfigJson& config) {
  return !config.has("model_type") && config.has("n_layers") && config.has("d_model");
}

ModelConfig config_from_transformer_lens(const ConfigJson& j) {
  ModelConfig c;
  c.family = "transformer_lens";
  c.model_name = j.get_string("model_name", "");
  c.n_layers = j.get_int("n_layers", config_ranges::kLayers);
  c.d_model = j.get_int("d_model", config_ranges::kWidth);
  c.n_ctx = j.get_int("n_ctx", config_ranges::kPositions);
  c.d_head = j.get_int("d_head", config_ranges::kWidth);
  // TransformerLens' default when n_heads is -1 or absent: d_model / d_head.
  c.n_heads = j.get_int("n_heads", -1, {-1, config_ranges::kHeads.max});
  if (c.n_heads <= 0) c.n_heads = c.d_model / c.d_head;
  c.d_vocab = j.get_int("d_vocab", config_ranges::kVocabulary);
  c.d_vocab_out = j.get_int("d_vocab_out", 0, {-1, config_ranges::kVocabulary.max});  // -1: d_vocab
  c.n_kv_heads = j.get_int("n_key_value_heads", 0, {0, config_ranges::kHeads.max});
  c.attn_only = j.get_bool("attn_only", false);
  c.d_mlp = c.attn_only ? 0 : j.get_int("d_mlp", 4 * c.d_model, config_ranges::kWidth);
  c.eps = j.get_double("eps", 1e-5);
  if (!c.attn_only) c.act_fn = activation_from_hf(j.get_string("act_fn"), j, "act_fn");

  const std::string norm = j.get_string("normalization_type", "");
  if (norm.empty())
    c.normalization = NormType::None;
  else if (norm == "LN")
    c.normalization = NormType::LayerNorm;
  else if (norm == "LNPre")
    c.normalization = NormType::LayerNormPre;
  else if (norm == "RMS")
    c.normalization = NormType::RMSNorm;
  else if (norm == "RMSPre")
    c.normalization = NormType::RMSNormPre;
  else
    j.fail(fmt::format("normalization_type '{}' is not supported (null, LN, LNPre, RMS, RMSPre)", norm));

  const std::string pos = j.get_string("positional_embedding_type", "standard");
  if (pos == "standard")
    c.positional_embedding = PositionalEmbedding::Learned;
  else if (pos == "rotary")
    c.positional_embedding = PositionalEmbedding::Rotary;
  else
    j.fail(fmt::format("positional_embedding_type '{}' is not supported (standard, rotary)", pos));
  c.rotary_dim = j.get_int("rotary_dim", 0, {0, config_ranges::kWidth.max});
  c.rotary_base = j.get_double("rotary_base", 10000.0);
  if (j.get_bool("rotary_adjacent_pairs", false)) c.rotary_style = RotaryStyle::GPTJ;

  c.attn_scale = 1.0;
  if (j.get_bool("use_attn_scale", true)) {
    const double scale = j.get_double("attn_scale", -1.0);  // TransformerLens' -1: sqrt(d_head)
    if (scale != -1.0 && !(std::isfinite(scale) && scale > 0))
      j.fail(
          fmt::format("'attn_scale' is {}; scores are divided by it, so it must be positive (or -1 for "
                      "sqrt(d_head))",
                      scale));
    c.attn_scale = scale == -1.0 ? 0.0 : scale;
  }
  c.parallel_attn_mlp = j.get_bool("parallel_attn_mlp", false);
  c.gated_mlp = j.get_bool("gated_mlp", false);
  c.tie_word_embeddings = j.get_bool("tie_word_embeddings", false);
  c.default_prepend_bos = j.get_bool("default_prepend_bos", true);
  if (j.has("attn_windows")) c.attn_windows = j.json()["attn_windows"].get<std::vector<int64_t>>();
  try {
    c.validate();
  } catch (const Error& e) {
    j.fail(e.what());
  }
  return c;
}

nlohmann::json config_to_transformer_lens(const ModelConfig& c) {
  using nlohmann::json;
  auto norm_name = [](NormType t) -> json {
    switch (t) {
      case NormType::None: return nullptr;
      case NormType::LayerNorm: return "LN";
      case NormType::LayerNormPre: return "LNPre";
      case NormType::RMSNorm: return "RMS";
      case NormType::RMSNormPre: return "RMSPre";
      case NormType::RMSNormOnePlus: break;
    }
    throw Error("Gemma's (1 + w) RMSNorm has no TransformerLens-format name (fold it into RMS first)");
  };
  // What TransformerLens' config cannot say is refused, not dropped: a reloaded model would silently differ.
  const auto refuse = [&](const char* what) {
    throw Error(fmt::format("model '{}' has {}, which the TransformerLens format cannot express", c.model_name, what));
  };
  if (c.qk_norm != NormType::None) refuse("per-head query/key norms (qk_layernorm)");
  if (c.parallel_attn_mlp && c.parallel_shared_norm) refuse("one norm shared by its parallel attention and MLP");
  if (c.rope_scaling.type != RopeScaling::Type::None) refuse("rotary scaling (rope_scaling)");
  if (c.scale_attn_by_inverse_layer_idx) refuse("attention scaled by the inverse layer index");
  if (c.embedding_multiplier != 1.0) refuse("an embedding multiplier");
  json j;
  j["model_name"] = c.model_name;
  j["n_layers"] = c.n_layers;
  j["d_model"] = c.d_model;
  j["n_ctx"] = c.n_ctx;
  j["d_head"] = c.d_head;
  j["n_heads"] = c.n_heads;
  j["d_mlp"] = c.has_mlp() ? json(c.d_mlp) : json(nullptr);
  j["act_fn"] = c.has_mlp() ? json(to_string(c.act_fn)) : json(nullptr);
  j["d_vocab"] = c.d_vocab;
  j["d_vocab_out"] = c.vocab_out();
  j["eps"] = c.eps;
  j["use_attn_scale"] = true;
  j["attn_scale"] = c.effective_attn_scale();
  j["normalization_type"] = norm_name(c.normalization);
  j["attn_only"] = c.attn_only;
  j["positional_embedding_type"] = c.positional_embedding == PositionalEmbedding::Rotary ? "rotary" : "standard";
  j["rotary_dim"] = c.positional_embedding == PositionalEmbedding::Rotary ? json(c.rotary_dims()) : json(nullptr);
  j["rotary_base"] = c.rotary_base;
  j["rotary_adjacent_pairs"] = c.rotary_style == RotaryStyle::GPTJ;
  j["parallel_attn_mlp"] = c.parallel_attn_mlp;
  j["gated_mlp"] = c.gated_mlp;
  j["n_key_value_heads"] = c.kv_heads() != c.n_heads ? json(c.kv_heads()) : json(nullptr);
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["default_prepend_bos"] = c.default_prepend_bos;
  if (!c.attn_windows.empty()) j["attn_windows"] = c.attn_windows;
  return j;
}

ModelWeights weights_from_transformer_lens(const Checkpoint& checkpoint, const ModelConfig& c, torch::Dtype dtype,
                                           torch::Device device) {
  WeightReader r(checkpoint, dtype, device);
  const int64_t d = c.d_model, h = c.n_heads, kv = c.kv_heads(), e = c.d_head, m = c.d_mlp;
  const bool norm_w = c.normalization == NormType::LayerNorm || c.normalization == NormType::RMSNorm;
  const bool norm_b = c.normalization == NormType::LayerNorm;
  auto norm = [&](const std::string& prefix) {
    NormWeights n;
    if (norm_w) n.w = r.take(prefix + ".w", {d});
    if (norm_b) n.b = r.take(prefix + ".b", {d});
    return n;
  };
  // Grouped-query checkpoints name the unrepeated key/value weights _W_K, _W_V, _b_K, _b_V.
  auto kv_weight = [&](const std::string& prefix, const char* name, std::vector<int64_t> shape) {
    const std::string hidden = prefix + "_" + name;
    return r.has(hidden) ? r.take(hidden, shape) : r.take(prefix + name, shape);
  };

  ModelWeights w;
  w.W_E = r.take("embed.W_E", {c.d_vocab, d}, "d_vocab x d_model");
  if (c.positional_embedding == PositionalEmbedding::Learned) w.W_pos = r.take("pos_embed.W_pos", {c.n_ctx, d});
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string b = fmt::format("blocks.{}.", l);
    BlockWeights blk;
    blk.ln1 = norm(b + "ln1");
    blk.attn.W_Q = r.take(b + "attn.W_Q", {h, d, e}, "n_heads x d_model x d_head");
    blk.attn.W_K = kv_weight(b + "attn.", "W_K", {kv, d, e});
    blk.attn.W_V = kv_weight(b + "attn.", "W_V", {kv, d, e});
    blk.attn.W_O = r.take(b + "attn.W_O", {h, e, d}, "n_heads x d_head x d_model");
    auto bias = [&](const std::string& name, std::vector<int64_t> shape) {
      auto t = r.take_if_present(name, shape);
      return t.defined() ? t : r.zeros(shape);
    };
    blk.attn.b_Q = bias(b + "attn.b_Q", {h, e});
    blk.attn.b_K = r.has(b + "attn._b_K") ? r.take(b + "attn._b_K", {kv, e}) : bias(b + "attn.b_K", {kv, e});
    blk.attn.b_V = r.has(b + "attn._b_V") ? r.take(b + "attn._b_V", {kv, e}) : bias(b + "attn.b_V", {kv, e});
    blk.attn.b_O = bias(b + "attn.b_O", {d});
    if (c.has_mlp()) {
      blk.ln2 = norm(b + "ln2");
      blk.mlp.W_in = r.take(b + "mlp.W_in", {d, m}, "d_model x d_mlp");
      blk.mlp.b_in = bias(b + "mlp.b_in", {m});
      if (c.gated_mlp) blk.mlp.W_gate = r.take(b + "mlp.W_gate", {d, m});
      blk.mlp.W_out = r.take(b + "mlp.W_out", {m, d}, "d_mlp x d_model");
      blk.mlp.b_out = bias(b + "mlp.b_out", {d});
    }
    w.blocks.push_back(std::move(blk));
  }
  w.ln_final = norm("ln_final");
  if (c.tie_word_embeddings && !r.has("unembed.W_U"))
    w.W_U = w.W_E.t();
  else
    w.W_U = r.take("unembed.W_U", {d, c.vocab_out()}, "d_model x d_vocab_out");
  w.b_U = r.take_if_present("unembed.b_U", {c.vocab_out()});
  // TransformerLens state dicts also carry buffers (causal masks, IGNORE, rotary tables) that are recomputed here.
  r.check_all_used([](const std::string& n) {
    return n.ends_with(".attn.mask") || n.ends_with(".attn.IGNORE") || n.ends_with(".attn.rotary_sin") ||
           n.ends_with(".attn.rotary_cos");
  });
  return w;
}

void save_transformer_lens(const HookedTransformer& model, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  auto config = config_to_transformer_lens(model.config());
  write_file_atomically(dir / "config.json", config.dump(1) + "\n");
  save_safetensors(dir / "model.safetensors", model.weights().named_parameters(model.config()),
                   {{"format", "transformer_lens"}});
}

}  // namespace arrakis
