#pragma once
// How Hugging Face's tensor layouts map onto TransformerLens' per-head layout. Every function returns a view: the
// checkpoint's bytes are not copied.
#include <torch/types.h>

#include <string>

#include "arrakis/model/config.hpp"
#include "model/families/weight_reader.hpp"

namespace arrakis {

/// nn.Linear weight [heads * d_head, d_model] (out x in) -> [heads, d_model, d_head].
inline torch::Tensor heads_in_from_linear(const torch::Tensor& w, int64_t heads, int64_t d_head) {
  return w.view({heads, d_head, w.size(1)}).permute({0, 2, 1});
}

/// nn.Linear bias [heads * d_head] -> [heads, d_head].
inline torch::Tensor heads_bias(const torch::Tensor& b, int64_t heads, int64_t d_head) {
  return b.view({heads, d_head});
}

/// nn.Linear weight [d_model, heads * d_head] (out x in) -> W_O [heads, d_head, d_model].
inline torch::Tensor heads_out_from_linear(const torch::Tensor& w, int64_t heads, int64_t d_head) {
  return w.t().view({heads, d_head, w.size(0)});
}

/// nn.Linear weight [out, in] -> the [in, out] matrix x @ W reads.
inline torch::Tensor matrix_from_linear(const torch::Tensor& w) { return w.t(); }

/// W_U: the transposed embedding when tied (a copy stored under `head_name` anyway is skipped), else the nn.Linear
/// `head_name` [vocab, d_model].
inline torch::Tensor read_unembedding(WeightReader& r, const ModelConfig& c, const torch::Tensor& W_E,
                                      const std::string& head_name) {
  if (c.tie_word_embeddings) {
    r.skip(head_name);
    return W_E.t();
  }
  return matrix_from_linear(r.take(head_name, {c.d_vocab, c.d_model}, "vocab_size x hidden_size"));
}

}  // namespace arrakis
