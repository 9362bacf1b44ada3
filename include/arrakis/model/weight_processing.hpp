#pragma once
// Weight processing as TransformerLens defines it: rewrites of the weights that leave the model's log-probabilities
// unchanged but make its components easier to read (LayerNorm weights folded into the layers that read them, the
// residual stream's irrelevant mean removed, value biases moved to the output bias, QK and OV circuits put in a
// balanced SVD basis). Opt-in at load time (LoadOptions::processing) or on a loaded model.
//
// Where an option does not apply to a model it is skipped and the reason recorded in the report (docs/checkpoints.md
// lists them per family): e.g. RMSNorm does not centre its input, so weights around it cannot be centred; rotary
// embeddings sit between W_Q and W_K, so the QK circuit cannot be refactored.
#include <string>
#include <vector>

#include "arrakis/model/config.hpp"
#include "arrakis/model/weights.hpp"

namespace arrakis {

struct WeightProcessing {
  /// Fold each norm's weight (and LayerNorm's bias) into the matrices that read its output, leaving LNPre / RMSPre
  /// norms; with LayerNorm, also centre those matrices' inputs (the normalized vector has mean zero).
  bool fold_ln = false;
  /// Subtract from everything that writes to the residual stream (W_E, W_pos, W_O, b_O, W_out, b_out) its mean over
  /// d_model. Exact only when every reader of the residual stream centres it first: LayerNorm models.
  bool center_writing_weights = false;
  /// Subtract from W_U and b_U their mean over the vocabulary (softmax is shift-invariant).
  bool center_unembed = false;
  /// Move b_V into b_O: each attention row sums to one, so b_V contributes the same b_V W_O at every position.
  bool fold_value_biases = false;
  /// Rewrite each head's W_Q/W_K (with biases) and W_V/W_O as the balanced factors U sqrt(S), V sqrt(S) of the SVD
  /// of its QK and OV circuits. Needs multi-head attention without rotary embeddings or q/k norms.
  bool refactor_factored_attn_matrices = false;

  /// Every option on (TransformerLens' from_pretrained defaults are fold_ln, center_writing_weights, center_unembed).
  static WeightProcessing all();
  bool any() const {
    return fold_ln || center_writing_weights || center_unembed || fold_value_biases || refactor_factored_attn_matrices;
  }
};

struct WeightProcessingReport {
  std::vector<std::string> applied;  // option names applied
  std::vector<std::string> skipped;  // "option: why it does not apply to this model"
};

/// Applies `options` to `weights` (and updates `config`: folded norms become LNPre / RMSPre, a tied unembedding is
/// untied when either side changes). Arithmetic runs in float64 and the results take each weight's dtype.
WeightProcessingReport process_weights(ModelConfig& config, ModelWeights& weights, const WeightProcessing& options);

}  // namespace arrakis
