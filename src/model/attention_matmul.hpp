#pragma once
// The attention's two batched products, on strided views of q, k, v (no copies), with grouped-query heads mapped to
// their key/value heads. Float32 on the CPU runs on oneDNN's batched matmul (its JIT kernels are ~4x faster than
// LibTorch 1.13's bmm for these small per-head matrices, and read any strides); other dtypes and devices, and builds
// without oneDNN, run on LibTorch.
#include <torch/types.h>

namespace arrakis {

/// scores [batch, heads, q, keys] = Σ_d queries[batch, q, head, d] · keys[batch, kv_head(head), key, d], where
/// query heads head·kv_heads/heads share a key/value head (Hugging Face's repeat_kv order).
/// queries [batch, q, heads, d_head]; keys [batch, kv_heads, keys, d_head] (any strides).
torch::Tensor attention_scores(const torch::Tensor& queries, const torch::Tensor& keys);

/// z [batch, q, heads, d_head] = Σ_key pattern[batch, head, q, key] · values[batch, kv_head(head), key, d].
/// pattern [batch, heads, q, keys]; values [batch, kv_heads, keys, d_head] (any strides).
torch::Tensor attention_mix(const torch::Tensor& pattern, const torch::Tensor& values);

}  // namespace arrakis
