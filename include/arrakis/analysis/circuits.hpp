#pragma once
// Weight-based circuit analysis ("A Mathematical Framework for Transformer Circuits"): every head's OV and QK
// circuits as FactoredMatrix, Q-/K-/V-composition scores between heads of different layers, and the OV copying
// score of the full W_E·OV·W_U circuit.
#include <torch/types.h>

#include "arrakis/analysis/factored_matrix.hpp"
#include "arrakis/model/hooked_transformer.hpp"

namespace arrakis {

/// Which weights the circuits use. TransformerLens computes them on weights processed at load time (fold_ln,
/// center_writing_weights); Arrakis keeps the checkpoint's weights, so the same processing is applied here:
struct CircuitOptions {
  /// Multiply what reads the residual stream through a norm (W_Q, W_K, W_V; W_U through ln_final) by that norm's
  /// gain (w, or 1 + w for Gemma's norm) — TransformerLens' fold_ln.
  bool fold_norm_weights = true;
  /// LayerNorm models only: remove the mean over d_model of what writes to the residual stream (W_O, W_E), which
  /// every LayerNorm reading it discards — TransformerLens' center_writing_weights.
  bool center_writing_weights = true;
};

/// W_V[h] W_O[h] for every head: [n_layers, n_heads, d_model, d_model], factored through d_head. For grouped-query
/// models query head h uses key/value head h / (n_heads / n_kv_heads) (Hugging Face's repeat_kv order).
FactoredMatrix ov_circuits(const HookedTransformer& model, const CircuitOptions& options = {});
/// W_Q[h] W_K[h]^T for every head: [n_layers, n_heads, d_model, d_model] (query side as rows, key side as columns;
/// rotary positions are not part of it, as in TransformerLens).
FactoredMatrix qk_circuits(const HookedTransformer& model, const CircuitOptions& options = {});
/// W_E · OV · W_U for every head: [n_layers, n_heads, d_vocab, d_vocab_out] (embeddings in, logits out).
FactoredMatrix full_ov_circuits(const HookedTransformer& model, const CircuitOptions& options = {});

enum class CompositionKind { Q, K, V };

/// ||left @ right||_F / (||left||_F ||right||_F) for every pair, broadcasting left's leading dimensions before
/// right's (TransformerLens' utils.composition_scores): left [a..., d, d], right [b..., d, d] -> [a..., b...].
torch::Tensor composition_scores(const FactoredMatrix& left, const FactoredMatrix& right);

/// TransformerLens' all_composition_scores: [n_layers, n_heads, n_layers, n_heads], score[l1, h1, l2, h2] of the
/// earlier head (l1, h1) into the later head (l2, h2); zero where l2 <= l1. With W_A = OV of the earlier head:
///   Q: W_B = QK of the later head (its queries read the earlier head's output),
///   K: W_B = QK^T (its keys read it),
///   V: W_B = OV (its values read it).
torch::Tensor all_composition_scores(const HookedTransformer& model, CompositionKind kind,
                                     const CircuitOptions& options = {});

/// The OV copying score of every head [n_layers, n_heads]: Re(Σ λ) / Σ |λ| over the eigenvalues λ of the full OV
/// circuit W_E·OV·W_U (those of the d_head x d_head core BA), as in the Mathematical Framework paper and ARENA's
/// TransformerLens exercises. 1 for a head that copies (positive eigenvalues), -1 for one that suppresses.
torch::Tensor ov_copying_scores(const HookedTransformer& model, const CircuitOptions& options = {});
/// The fraction of those eigenvalues whose real part is positive [n_layers, n_heads].
torch::Tensor positive_eigenvalue_fraction(const HookedTransformer& model, const CircuitOptions& options = {});

}  // namespace arrakis
