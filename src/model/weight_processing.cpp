// Weight processing (TransformerLens' fold_ln, center_writing_weights, center_unembed, fold_value_biases,
// refactor_factored_attn_matrices). Each rewrite is exact in real arithmetic; we compute in float64 so that float32
// models keep their log-probabilities to ~1e-6.
#include "arrakis/model/weight_processing.hpp"

#include <fmt/format.h>

#include <tuple>

#include "arrakis/error.hpp"
#include "arrakis/model/norm_semantics.hpp"

namespace arrakis {
namespace {

using torch::Tensor;

bool is_layer_norm(NormType t) { return norm_semantics(t).centres; }
bool has_norm_weights(NormType t) { return norm_semantics(t).gain != NormGain::None; }

Tensor f64(const Tensor& t) { return t.to(torch::kFloat64); }
Tensor like(const Tensor& value, const Tensor& original) { return value.to(original.scalar_type()).contiguous(); }

/// A tied unembedding is a view of W_E: give it storage of its own before either side changes.
void untie(ModelConfig& config, ModelWeights& w) {
  if (!config.tie_word_embeddings && !(w.W_U.defined() && w.W_U.is_alias_of(w.W_E))) return;
  w.W_U = w.W_U.clone();
  config.tie_word_embeddings = false;
}

/// The weight a norm multiplies by (Gemma's norm multiplies by 1 + w), in float64.
Tensor effective_scale(const NormWeights& n, NormType type) {
  return norm_gain(type, NormWeights{f64(n.w), n.b.defined() ? f64(n.b) : Tensor()});
}

/// Folds norm `n` into a reader `W` [..., d_model, out] with bias `b` [..., out] (undefined: no bias, and then the
/// norm must have no bias either). With LayerNorm the reader's input is then centred.
void fold_into_reader(const NormWeights& n, NormType type, Tensor& W, Tensor* b) {
  if (!W.defined()) return;
  Tensor W64 = f64(W);
  if (n.b.defined()) {
    if (!b) throw Error("fold_ln: a LayerNorm bias would have to fold into a weight without a bias");
    Tensor bias = b->defined() ? f64(*b) : torch::zeros({W.size(-1)}, W64.options());
    bias = bias + (f64(n.b).unsqueeze(-1) * W64).sum(-2);
    *b = b->defined() ? like(bias, *b) : like(bias, W);
  }
  W64 = W64 * effective_scale(n, type).unsqueeze(-1);
  if (is_layer_norm(type)) W64 = W64 - W64.mean(-2, /*keepdim=*/true);
  W = like(W64, W);
}

void fold_ln(ModelConfig& config, ModelWeights& w) {
  const NormType type = config.normalization;
  for (auto& block : w.blocks) {
    auto& a = block.attn;
    fold_into_reader(block.ln1, type, a.W_Q, &a.b_Q);
    fold_into_reader(block.ln1, type, a.W_K, &a.b_K);
    fold_into_reader(block.ln1, type, a.W_V, &a.b_V);
    if (config.has_mlp()) {
      const NormWeights& mlp_norm = config.parallel_shared_norm ? block.ln1 : block.ln2;
      fold_into_reader(mlp_norm, type, block.mlp.W_in, &block.mlp.b_in);
      fold_into_reader(mlp_norm, type, block.mlp.W_gate, nullptr);
    }
    block.ln1 = {};
    block.ln2 = {};
  }
  untie(config, w);
  fold_into_reader(w.ln_final, type, w.W_U, &w.b_U);
  w.ln_final = {};
  config.normalization = norm_semantics(type).folded;
}

void center_writing_weights(ModelConfig& config, ModelWeights& w) {
  untie(config, w);
  auto centre = [](Tensor& t) {
    if (t.defined()) t = like(f64(t) - f64(t).mean(-1, /*keepdim=*/true), t);
  };
  centre(w.W_E);
  centre(w.W_pos);
  for (auto& block : w.blocks) {
    centre(block.attn.W_O);
    centre(block.attn.b_O);
    if (config.has_mlp()) {
      centre(block.mlp.W_out);
      centre(block.mlp.b_out);
    }
  }
}

void center_unembed(ModelConfig& config, ModelWeights& w) {
  untie(config, w);
  w.W_U = like(f64(w.W_U) - f64(w.W_U).mean(-1, true), w.W_U);
  if (w.b_U.defined()) w.b_U = like(f64(w.b_U) - f64(w.b_U).mean(), w.b_U);
}

/// b_V of each query head's key/value head (grouped-query heads share one, as Hugging Face's repeat_kv pairs them).
Tensor value_bias_per_query_head(const ModelConfig& config, const AttentionWeights& a) {
  const int64_t group = config.n_heads / config.kv_heads();
  return f64(a.b_V).repeat_interleave(group, 0);  // [n_heads, d_head]
}

void fold_value_biases(const ModelConfig& config, ModelWeights& w) {
  for (auto& block : w.blocks) {
    auto& a = block.attn;
    if (!a.b_V.defined()) continue;
    // Every row of an attention pattern sums to one, so the value bias reaches the output as the constant b_V W_O.
    Tensor b_V = value_bias_per_query_head(config, a);
    Tensor b_O = f64(a.b_O) + (b_V.unsqueeze(-1) * f64(a.W_O)).sum(torch::IntArrayRef{0, 1});
    a.b_O = like(b_O, a.b_O);
    a.b_V = torch::zeros_like(a.b_V);
  }
}

/// The SVD of the product A B ([h, m, r] @ [h, r, n]) from the factors alone: U [h, m, r], S [h, r], Vh [h, r, n].
std::tuple<Tensor, Tensor, Tensor> factored_svd(const Tensor& A, const Tensor& B) {
  auto [Ua, Sa, Vha] = torch::linalg_svd(A, /*full_matrices=*/false);
  auto [Ub, Sb, Vhb] = torch::linalg_svd(B, /*full_matrices=*/false);
  Tensor core = Sa.unsqueeze(-1) * Vha.matmul(Ub) * Sb.unsqueeze(-2);
  auto [Uc, S, Vhc] = torch::linalg_svd(core, /*full_matrices=*/false);
  return {Ua.matmul(Uc), S, Vhc.matmul(Vhb)};
}

/// [W; b] as one [h, d_model + 1, d_head] matrix acting on [x, 1].
Tensor with_bias_row(const Tensor& W, const Tensor& b) { return torch::cat({f64(W), f64(b).unsqueeze(1)}, 1); }

void refactor_factored_attn_matrices(ModelWeights& w) {
  for (auto& block : w.blocks) {
    auto& a = block.attn;
    {  // QK: scores = [x,1] W_Q' W_K'^T [x,1]^T, rewritten as U sqrt(S) (V sqrt(S))^T.
      auto [U, S, Vh] = factored_svd(with_bias_row(a.W_Q, a.b_Q), with_bias_row(a.W_K, a.b_K).transpose(1, 2));
      Tensor root = S.sqrt().unsqueeze(1);
      Tensor Q = U * root, K = Vh.transpose(1, 2) * root;
      const int64_t d_model = a.W_Q.size(1);
      a.W_Q = like(Q.narrow(1, 0, d_model), a.W_Q);
      a.b_Q = like(Q.select(1, d_model), a.b_Q);
      a.W_K = like(K.narrow(1, 0, d_model), a.W_K);
      a.b_K = like(K.select(1, d_model), a.b_K);
    }
    {  // OV: [x,1] W_V' W_O, rewritten the same way.
      auto [U, S, Vh] = factored_svd(with_bias_row(a.W_V, a.b_V), f64(a.W_O));
      Tensor root = S.sqrt();
      Tensor V = U * root.unsqueeze(1), O = root.unsqueeze(-1) * Vh;
      const int64_t d_model = a.W_V.size(1);
      a.W_V = like(V.narrow(1, 0, d_model), a.W_V);
      a.b_V = like(V.select(1, d_model), a.b_V);
      a.W_O = like(O, a.W_O);
    }
  }
}

}  // namespace

WeightProcessing WeightProcessing::all() { return {true, true, true, true, true}; }

WeightProcessingReport process_weights(ModelConfig& config, ModelWeights& w, const WeightProcessing& options) {
  torch::NoGradGuard no_grad;
  WeightProcessingReport report;
  auto skip = [&](const char* option, const std::string& why) {
    report.skipped.push_back(fmt::format("{}: {}", option, why));
  };
  const NormType original_norm = config.normalization;

  if (options.fold_ln) {
    if (!has_norm_weights(config.normalization))
      skip("fold_ln", config.normalization == NormType::None ? "the model has no normalization"
                                                             : "the norms' weights are already folded");
    else if (config.gated_mlp && is_layer_norm(config.normalization) && config.has_mlp())
      skip("fold_ln", "a LayerNorm bias cannot fold into a gated MLP's gate (it has no bias)");
    else {
      fold_ln(config, w);
      report.applied.push_back("fold_ln");
    }
  }
  if (options.center_writing_weights) {
    if (!is_layer_norm(original_norm))
      skip("center_writing_weights",
           fmt::format("only a LayerNorm removes the residual stream's mean ({} does not)", to_string(original_norm)));
    else {
      center_writing_weights(config, w);
      report.applied.push_back("center_writing_weights");
    }
  }
  if (options.center_unembed) {
    center_unembed(config, w);
    report.applied.push_back("center_unembed");
  }
  if (options.fold_value_biases) {
    fold_value_biases(config, w);
    report.applied.push_back("fold_value_biases");
  }
  if (options.refactor_factored_attn_matrices) {
    if (config.positional_embedding == PositionalEmbedding::Rotary)
      skip("refactor_factored_attn_matrices", "rotary embeddings act between W_Q and W_K, so QK is not one matrix");
    else if (config.kv_heads() != config.n_heads)
      skip("refactor_factored_attn_matrices",
           "grouped-query heads share W_K and W_V, so no head can be rewritten alone");
    else if (config.qk_norm != NormType::None)
      skip("refactor_factored_attn_matrices", "per-head q/k norms act between W_Q and W_K");
    else {
      refactor_factored_attn_matrices(w);
      report.applied.push_back("refactor_factored_attn_matrices");
    }
  }
  w.canonicalize_layout();
  w.validate(config);
  return report;
}

}  // namespace arrakis
