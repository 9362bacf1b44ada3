#include "model/attention_matmul.hpp"

#include "model/onednn_ops.hpp"

namespace arrakis {
namespace {

// LibTorch: regroup [batch, heads, ...] as [batch * kv_heads, group * q, ...] so each key/value head's group is one
// matrix product (no repeated keys).
torch::Tensor scores_torch(const torch::Tensor& q, const torch::Tensor& keys) {
  const int64_t batch = q.size(0), pos = q.size(1), heads = q.size(2), d = q.size(3);
  const int64_t kv_heads = keys.size(1), n_keys = keys.size(2), group = heads / kv_heads;
  auto queries = q.permute({0, 2, 1, 3}).reshape({batch * kv_heads, group * pos, d});
  auto k3 = keys.reshape({batch * kv_heads, n_keys, d});
  return torch::bmm(queries, k3.transpose(1, 2)).view({batch, heads, pos, n_keys});
}

torch::Tensor mix_torch(const torch::Tensor& pattern, const torch::Tensor& values) {
  const int64_t batch = pattern.size(0), heads = pattern.size(1), pos = pattern.size(2), n_keys = pattern.size(3);
  const int64_t kv_heads = values.size(1), d = values.size(3), group = heads / kv_heads;
  auto v3 = values.reshape({batch * kv_heads, n_keys, d});
  return torch::bmm(pattern.reshape({batch * kv_heads, group * pos, n_keys}), v3)
      .view({batch, heads, pos, d})
      .permute({0, 2, 1, 3});
}

}  // namespace

torch::Tensor attention_scores(const torch::Tensor& q, const torch::Tensor& keys) {
  if (onednn_suits(q, keys)) {
    const int64_t batch = q.size(0), pos = q.size(1), heads = q.size(2), d = q.size(3);
    const int64_t kv_heads = keys.size(1), n_keys = keys.size(2), group = heads / kv_heads;
    auto scores = torch::empty({batch, heads, pos, n_keys}, q.options());
    const auto qs = q.strides(), ks = keys.strides();
    // head = kv_head * group + g: the head stride splits into (group * stride, stride).
    onednn_matmul({q, {batch, kv_heads, group, pos, d}, {qs[0], group * qs[2], qs[2], qs[1], qs[3]}},
                  {keys, {batch, kv_heads, 1, d, n_keys}, {ks[0], ks[1], ks[1], ks[3], ks[2]}}, nullptr,
                  {scores,
                   {batch, kv_heads, group, pos, n_keys},
                   {heads * pos * n_keys, group * pos * n_keys, pos * n_keys, n_keys, 1}});
    return scores;
  }
  return scores_torch(q, keys);
}

torch::Tensor attention_mix(const torch::Tensor& pattern, const torch::Tensor& values) {
  if (onednn_suits(pattern, values)) {
    const int64_t batch = pattern.size(0), heads = pattern.size(1), pos = pattern.size(2), n_keys = pattern.size(3);
    const int64_t kv_heads = values.size(1), d = values.size(3), group = heads / kv_heads;
    // Written straight into [batch, q, heads, d_head], the layout the output projection reads.
    auto z = torch::empty({batch, pos, heads, d}, pattern.options());
    const auto ps = pattern.strides(), vs = values.strides();
    onednn_matmul({pattern, {batch, kv_heads, group, pos, n_keys}, {ps[0], group * ps[1], ps[1], ps[2], ps[3]}},
                  {values, {batch, kv_heads, 1, n_keys, d}, {vs[0], vs[1], vs[1], vs[2], vs[3]}}, nullptr,
                  {z, {batch, kv_heads, group, pos, d}, {pos * heads * d, group * d, d, heads * d, 1}});
    return z;
  }
  return mix_torch(pattern, values);
}

}  // namespace arrakis
