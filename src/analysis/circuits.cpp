#include "arrakis/analysis/circuits.hpp"

#include <fmt/format.h>

#include "arrakis/error.hpp"
#include "arrakis/model/norm_semantics.hpp"

namespace arrakis {
namespace {

bool is_layer_norm(NormType t) { return norm_semantics(t).centres; }

// Reading weights [heads, d_model, d_head] with ln1's gain folded into their d_model rows.
torch::Tensor reader(const HookedTransformer& model, int layer, const torch::Tensor& W, const CircuitOptions& o) {
  auto gain = o.fold_norm_weights ? norm_gain(model.config().normalization, model.weights().blocks[layer].ln1)
                                  : torch::Tensor();
  return gain.defined() ? W * gain.reshape({1, -1, 1}) : W;
}

// Key/value-head weights [kv_heads, ...] repeated to one per query head.
torch::Tensor per_query_head(const ModelConfig& c, const torch::Tensor& W) {
  if (c.kv_heads() == c.n_heads) return W;
  return W.repeat_interleave(c.n_heads / c.kv_heads(), 0);
}

torch::Tensor writer(const HookedTransformer& model, const torch::Tensor& W, const CircuitOptions& o) {
  return o.center_writing_weights && is_layer_norm(model.config().normalization) ? W - W.mean(-1, true) : W;
}

torch::Tensor stack_layers(const HookedTransformer& model, const std::function<torch::Tensor(int)>& per_layer) {
  std::vector<torch::Tensor> layers;
  for (int l = 0; l < model.config().n_layers; ++l) layers.push_back(per_layer(l));
  return torch::stack(layers);
}

}  // namespace

FactoredMatrix ov_circuits(const HookedTransformer& model, const CircuitOptions& options) {
  const auto& c = model.config();
  auto W_V = stack_layers(
      model, [&](int l) { return per_query_head(c, reader(model, l, model.weights().blocks[l].attn.W_V, options)); });
  auto W_O = stack_layers(model, [&](int l) { return writer(model, model.weights().blocks[l].attn.W_O, options); });
  return {W_V, W_O};
}

FactoredMatrix qk_circuits(const HookedTransformer& model, const CircuitOptions& options) {
  const auto& c = model.config();
  auto W_Q = stack_layers(model, [&](int l) { return reader(model, l, model.weights().blocks[l].attn.W_Q, options); });
  auto W_K = stack_layers(
      model, [&](int l) { return per_query_head(c, reader(model, l, model.weights().blocks[l].attn.W_K, options)); });
  return {W_Q, W_K.transpose(-2, -1)};
}

namespace {

// W_E (centred, times the embedding multiplier) and W_U (with ln_final's gain): the full OV circuit's ends.
std::pair<torch::Tensor, torch::Tensor> embedding_ends(const HookedTransformer& model, const CircuitOptions& options) {
  const auto& w = model.weights();
  auto W_E = writer(model, w.W_E, options);
  if (model.config().embedding_multiplier != 1.0) W_E = W_E * model.config().embedding_multiplier;
  auto W_U = w.W_U;
  if (auto gain = options.fold_norm_weights ? norm_gain(model.config().normalization, w.ln_final) : torch::Tensor();
      gain.defined())
    W_U = W_U * gain.unsqueeze(-1);
  return {W_E, W_U};
}

}  // namespace

FactoredMatrix full_ov_circuits(const HookedTransformer& model, const CircuitOptions& options) {
  auto [W_E, W_U] = embedding_ends(model, options);
  return ov_circuits(model, options).rmatmul(W_E).matmul(W_U);
}

torch::Tensor composition_scores(const FactoredMatrix& left, const FactoredMatrix& right) {
  const auto nl = static_cast<int64_t>(left.batch_shape().size());
  const auto nr = static_cast<int64_t>(right.batch_shape().size());
  FactoredMatrix l = left, r = right;
  for (int64_t i = 0; i < nr; ++i) l = l.unsqueeze(nl + i);  // left's dims, then size-1 dims for right's
  for (int64_t i = 0; i < nl; ++i) r = r.unsqueeze(0);       // size-1 dims for left's, then right's
  return l.matmul(r).norm() / (l.norm() * r.norm());
}

torch::Tensor all_composition_scores(const HookedTransformer& model, CompositionKind kind,
                                     const CircuitOptions& options) {
  const auto& c = model.config();
  auto ov = ov_circuits(model, options);
  auto right = kind == CompositionKind::V ? ov : qk_circuits(model, options);
  if (kind == CompositionKind::K) right = right.transpose();
  auto scores = torch::zeros({c.n_layers, c.n_heads, c.n_layers, c.n_heads}, ov.A().options());
  // One earlier layer at a time against every later layer: bounded memory for large models.
  for (int l = 0; l + 1 < c.n_layers; ++l) {
    using torch::indexing::Slice;
    auto later = FactoredMatrix(right.A().index({Slice(l + 1)}), right.B().index({Slice(l + 1)}));
    scores.index_put_({l, Slice(), Slice(l + 1)}, composition_scores(ov.select(0, l), later));
  }
  return scores;
}

namespace {

torch::Tensor full_ov_eigenvalues(const HookedTransformer& model, const CircuitOptions& options) {
  const auto& c = model.config();
  if (c.d_vocab != c.vocab_out())
    throw Error(
        fmt::format("OV copying scores need the same input and output vocabulary (the full OV circuit must be "
                    "square); this model has d_vocab {} and d_vocab_out {}",
                    c.d_vocab, c.vocab_out()));
  // The eigenvalues of the full circuit's core B A = W_O (W_U W_E) W_V [d_head, d_head]: W_U W_E is only
  // d_model x d_model, so the [d_vocab, d_head] factors are never formed.
  auto [W_E, W_U] = embedding_ends(model, options);
  auto ov = ov_circuits(model, options);
  auto core = torch::matmul(torch::matmul(ov.B(), torch::matmul(W_U, W_E)), ov.A());
  return torch::linalg_eigvals(core.scalar_type() == torch::kFloat64 ? core : core.to(torch::kFloat32));
}

}  // namespace

torch::Tensor ov_copying_scores(const HookedTransformer& model, const CircuitOptions& options) {
  auto eigenvalues = full_ov_eigenvalues(model, options);
  return torch::real(eigenvalues.sum(-1)) / eigenvalues.abs().sum(-1);
}

torch::Tensor positive_eigenvalue_fraction(const HookedTransformer& model, const CircuitOptions& options) {
  auto eigenvalues = full_ov_eigenvalues(model, options);
  return (torch::real(eigenvalues) > 0).to(torch::kFloat32).mean(-1);
}

}  // namespace arrakis
