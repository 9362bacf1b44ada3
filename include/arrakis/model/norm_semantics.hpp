#pragma once
// What each normalization kind computes, in one place. Every norm is
//   y = gain · (x − centre) / sqrt(mean((x − centre)²) + eps) + bias
// with centre = mean(x) for the LayerNorm kinds and 0 for the RMS kinds; the forward, weight processing, the
// circuits, the lens and the attributions all ask this rather than spell the kinds out again.
#include <torch/types.h>

#include "arrakis/model/config.hpp"
#include "arrakis/model/weights.hpp"

namespace arrakis {

enum class NormGain {
  None,           // folded into the next layer (LNPre, RMSPre), or no norm
  Weight,         // · w
  OnePlusWeight,  // · (1 + w) (Gemma), so w = 0 is the identity
};

struct NormSemantics {
  bool present = false;  // false for NormType::None: the identity, no hook points
  bool centres = false;  // subtracts the mean first (LayerNorm, LNPre)
  NormGain gain = NormGain::None;
  bool bias = false;                 // adds b (LayerNorm; some LayerNorms leave it undefined)
  NormType folded = NormType::None;  // the kind fold_ln leaves behind
};

NormSemantics norm_semantics(NormType type);

/// The factor a norm multiplies the normalized stream by (w, or 1 + w), or undefined when it has none.
torch::Tensor norm_gain(NormType type, const NormWeights& weights);
/// The norm's weight and bias applied to an already normalized stream: gain · x + bias.
torch::Tensor norm_affine(NormType type, const NormWeights& weights, const torch::Tensor& normalized);
/// The value a freshly built norm's weight starts at so that the norm is the plain normalization (1, or 0 for 1 + w).
double identity_norm_weight(NormType type);

}  // namespace arrakis
