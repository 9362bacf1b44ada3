// GPT-Neo (GPTNeoForCausalLM): learned positions, LayerNorm, separate q/k/v projections without bias, no
// 1/sqrt(d_head) scaling of the scores, and layers alternating global and local attention (a query sees the last
// window_size keys, itself included), listed by attention_types; tied lm_head.
#include <fmt/format.h>

#include "model/families/activation_names.hpp"
#include "model/families/hf_layouts.hpp"
#include "model/families/model_family.hpp"

namespace arrakis {
namespace {

// attention_types [[["global", "local"], 12]] expands to 24 layers alternating global, local.
std::vector<std::string> attention_layers(const ConfigJson& j, int64_t n_layers) {
  std::vector<std::string> layers;
  if (j.has("attention_types")) {
    const auto& groups = j.json()["attention_types"];
    const char* shape = "'attention_types' must be a list of [[\"global\" | \"local\", ...], repeat count]";
    if (!groups.is_array()) j.fail(shape);
    for (const auto& group : groups) {
      if (!group.is_array() || group.size() != 2 || !group[0].is_array() || !group[1].is_number_integer() ||
          group[1].get<int64_t>() < 0)
        j.fail(shape);
      for (const auto& kind : group[0])
        if (!kind.is_string()) j.fail(shape);
      // Expanded only as far as the model has layers: a repeat count cannot make the list outgrow num_layers.
      for (int64_t i = 0; i < group[1].get<int64_t>() && static_cast<int64_t>(layers.size()) <= n_layers; ++i)
        for (const auto& kind : group[0]) layers.push_back(kind.get<std::string>());
      if (static_cast<int64_t>(layers.size()) > n_layers) break;
    }
  } else {
    for (int64_t i = 0; i < n_layers; ++i) layers.push_back(i % 2 ? "local" : "global");
  }
  if (static_cast<int64_t>(layers.size()) != n_layers)
    j.fail(fmt::format("attention_types describe {} layers but num_layers is {}",
                       static_cast<int64_t>(layers.size()) > n_layers ? "more" : std::to_string(layers.size()),
                       n_layers));
  return layers;
}

ModelConfig gpt_neo_config(const ConfigJson& j) {
  ModelConfig c;
  c.family = "gpt-neo";
  c.model_name = j.get_string("_name_or_path", "");
  c.n_layers = j.get_int("num_layers", 24, config_ranges::kLayers);
  c.d_model = j.get_int("hidden_size", 2048, config_ranges::kWidth);
  c.n_heads = j.get_int("num_heads", 16, config_ranges::kHeads);
  if (c.d_model % c.n_heads != 0)
    j.fail(fmt::format("hidden_size {} is not a multiple of num_heads {}", c.d_model, c.n_heads));
  c.d_head = c.d_model / c.n_heads;
  c.d_mlp = j.get_int("intermediate_size", 4 * c.d_model, config_ranges::kWidth);
  c.d_vocab = j.get_int("vocab_size", 50257, config_ranges::kVocabulary);
  c.n_ctx = j.get_int("max_position_embeddings", 2048, config_ranges::kPositions);
  c.eps = j.get_double("layer_norm_epsilon", 1e-5);
  c.act_fn = activation_from_hf(j.get_string("activation_function", "gelu_new"), j, "activation_function");
  c.normalization = NormType::LayerNorm;
  c.positional_embedding = PositionalEmbedding::Learned;
  c.attn_scale = 1.0;
  c.tie_word_embeddings = j.get_bool("tie_word_embeddings", true);
  const int64_t window = j.get_int("window_size", 256, config_ranges::kWindow);
  for (const auto& kind : attention_layers(j, c.n_layers)) {
    if (kind != "global" && kind != "local") j.fail(fmt::format("attention type '{}' is not global or local", kind));
    c.attn_windows.push_back(kind == "local" ? window : 0);
  }
  return c;
}

ModelWeights gpt_neo_weights(WeightReader& r, const ModelConfig& c, const ConfigJson&) {
  const std::string p = r.has("transformer.wte.weight") ? "transformer." : "";
  const int64_t d = c.d_model, h = c.n_heads, e = c.d_head, m = c.d_mlp;
  ModelWeights w;
  w.W_E = r.take(p + "wte.weight", {c.d_vocab, d}, "vocab_size x hidden_size");
  w.W_pos = r.take(p + "wpe.weight", {c.n_ctx, d}, "max_position_embeddings x hidden_size");
  auto norm = [&](const std::string& name) {
    return NormWeights{r.take(name + ".weight", {d}), r.take(name + ".bias", {d})};
  };
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string b = fmt::format("{}h.{}.", p, l);
    BlockWeights blk;
    blk.ln1 = norm(b + "ln_1");
    blk.ln2 = norm(b + "ln_2");
    auto& a = blk.attn;
    a.W_Q = heads_in_from_linear(r.take(b + "attn.attention.q_proj.weight", {d, d}), h, e);
    a.W_K = heads_in_from_linear(r.take(b + "attn.attention.k_proj.weight", {d, d}), h, e);
    a.W_V = heads_in_from_linear(r.take(b + "attn.attention.v_proj.weight", {d, d}), h, e);
    a.W_O = heads_out_from_linear(r.take(b + "attn.attention.out_proj.weight", {d, d}), h, e);
    a.b_Q = r.zeros({h, e});
    a.b_K = r.zeros({h, e});
    a.b_V = r.zeros({h, e});
    a.b_O = r.take(b + "attn.attention.out_proj.bias", {d});
    blk.mlp.W_in = matrix_from_linear(r.take(b + "mlp.c_fc.weight", {m, d}, "intermediate_size x hidden_size"));
    blk.mlp.b_in = r.take(b + "mlp.c_fc.bias", {m});
    blk.mlp.W_out = matrix_from_linear(r.take(b + "mlp.c_proj.weight", {d, m}, "hidden_size x intermediate_size"));
    blk.mlp.b_out = r.take(b + "mlp.c_proj.bias", {d});
    w.blocks.push_back(std::move(blk));
  }
  w.ln_final = norm(p + "ln_f");
  w.W_U = read_unembedding(r, c, w.W_E, "lm_head.weight");
  return w;
}

}  // namespace

ModelFamily gpt_neo_family() {
  return {"gpt-neo",
          {"gpt_neo"},
          {{"num_hidden_layers", "num_layers"},
           {"num_attention_heads", "num_heads"},
           {"hidden_act", "activation_function"}},
          gpt_neo_config,
          gpt_neo_weights};
}

}  // namespace arrakis
