// Phi-3: Llama-style blocks with one fused qkv_proj (rows q | k | v) and one fused gate_up_proj (rows gate | up), no
// biases, and the long-context "su"/"longrope" and "yarn" rotary scalings. A sliding_window, when set, works as
// Mistral's (sliding_window + 1 keys, Hugging Face 4.41's eager mask).
#include <fmt/format.h>

#include "model/families/hf_layouts.hpp"
#include "model/families/llama_like.hpp"

namespace arrakis {
namespace {

ModelConfig phi3_config(const ConfigJson& j) {
  static const LlamaLikeDefaults defaults{.vocab_size = 32064,
                                          .hidden_size = 3072,
                                          .intermediate_size = 8192,
                                          .num_hidden_layers = 32,
                                          .num_attention_heads = 32,
                                          .max_position_embeddings = 4096,
                                          .norm_eps = 1e-5,
                                          .tie_word_embeddings = false,
                                          .rope_theta = 10000.0,
                                          .hidden_act = "silu"};
  auto c = llama_like_config(j, "phi3", defaults);
  c.rope_scaling =
      rope_scaling_from_hf(j, c.n_ctx, j.get_int("original_max_position_embeddings", 4096, config_ranges::kPositions));
  if (j.has("sliding_window"))
    c.attn_windows.assign(c.n_layers, j.get_int("sliding_window", config_ranges::kWindow) + 1);
  return c;
}

ModelWeights phi3_weights(WeightReader& r, const ModelConfig& c, const ConfigJson&) {
  const std::string p = llama_like_prefix(r);
  const int64_t d = c.d_model, h = c.n_heads, kv = c.kv_heads(), e = c.d_head, m = c.d_mlp;
  ModelWeights w;
  read_embeddings_and_head(r, c, p, w);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string b = fmt::format("{}layers.{}.", p, l);
    BlockWeights blk;
    blk.ln1 = read_norm(r, c, b + "input_layernorm");
    blk.ln2 = read_norm(r, c, b + "post_attention_layernorm");
    auto qkv =
        r.take(b + "self_attn.qkv_proj.weight", {(h + 2 * kv) * e, d}, "(heads + 2 kv heads) x head_dim, hidden");
    auto& a = blk.attn;
    a.W_Q = heads_in_from_linear(qkv.narrow(0, 0, h * e), h, e);
    a.W_K = heads_in_from_linear(qkv.narrow(0, h * e, kv * e), kv, e);
    a.W_V = heads_in_from_linear(qkv.narrow(0, (h + kv) * e, kv * e), kv, e);
    a.W_O = heads_out_from_linear(r.take(b + "self_attn.o_proj.weight", {d, h * e}), h, e);
    a.b_Q = r.zeros({h, e});
    a.b_K = r.zeros({kv, e});
    a.b_V = r.zeros({kv, e});
    a.b_O = r.zeros({d});
    auto gate_up = r.take(b + "mlp.gate_up_proj.weight", {2 * m, d}, "2 intermediate_size x hidden");
    blk.mlp.W_gate = matrix_from_linear(gate_up.narrow(0, 0, m));
    blk.mlp.W_in = matrix_from_linear(gate_up.narrow(0, m, m));
    blk.mlp.b_in = r.zeros({m});
    blk.mlp.W_out = matrix_from_linear(r.take(b + "mlp.down_proj.weight", {d, m}));
    blk.mlp.b_out = r.zeros({d});
    w.blocks.push_back(std::move(blk));
  }
  return w;
}

}  // namespace

ModelFamily phi3_family() { return {"phi3", {"phi3"}, {}, phi3_config, phi3_weights}; }

}  // namespace arrakis
