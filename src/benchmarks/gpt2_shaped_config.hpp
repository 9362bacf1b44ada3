#pragma once
// The model the benchmarks run: GPT-2's architecture (learned positions, LayerNorm, gelu_new, tied unembedding) at a
// chosen size, GPT-2 small by default in each benchmark's options.
#include <cstdint>

#include "arrakis/model/config.hpp"

namespace arrakis {

inline ModelConfig gpt2_shaped_config(int64_t n_layers, int64_t d_model, int64_t n_heads, int64_t d_mlp,
                                      int64_t d_vocab, int64_t n_ctx) {
  ModelConfig config;
  config.model_name = "gpt2-small-shaped (random weights)";
  config.n_layers = n_layers;
  config.d_model = d_model;
  config.n_heads = n_heads;
  config.d_head = d_model / n_heads;
  config.d_mlp = d_mlp;
  config.d_vocab = d_vocab;
  config.n_ctx = n_ctx;
  config.act_fn = Activation::GeluTanh;
  config.tie_word_embeddings = true;
  return config;
}

}  // namespace arrakis
