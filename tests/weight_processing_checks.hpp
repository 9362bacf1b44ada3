#pragma once
// What each weight-processing option promises about the weights, checked the same way on every model that
// unit/test_weight_processing.cpp processes.
#include <gtest/gtest.h>

#include <string>

#include "arrakis/model/hooked_transformer.hpp"
#include "arrakis/model/weight_processing.hpp"

namespace arrakis::test {

inline bool skipped(const WeightProcessingReport& report, const std::string& option) {
  for (const auto& s : report.skipped)
    if (s.starts_with(option + ":")) return true;
  return false;
}

/// fold_ln leaves a Pre norm and no weights; centring leaves W_Q, W_E and W_U centred; fold_value_biases leaves b_V
/// zero. `plain` is the model before processing, `processed` after, `report` what process_weights said.
inline void expect_processing_promises(const HookedTransformer& plain, const HookedTransformer& processed,
                                       const WeightProcessingReport& report) {
  const auto& c = processed.config();
  const auto& w = processed.weights();
  if (!skipped(report, "fold_ln") && plain.config().normalization != NormType::None) {
    EXPECT_TRUE(c.normalization == NormType::LayerNormPre || c.normalization == NormType::RMSNormPre);
    EXPECT_FALSE(w.blocks[0].ln1.w.defined());
  }
  if (c.normalization == NormType::LayerNormPre) {
    EXPECT_LT(w.blocks[0].attn.W_Q.sum(1).abs().max().item<double>(), 1e-4) << "W_Q not centred over d_model";
    EXPECT_LT(w.W_E.mean(-1).abs().max().item<double>(), 1e-5) << "W_E not centred";
  }
  EXPECT_LT(w.W_U.mean(-1).abs().max().item<double>(), 1e-5) << "W_U not centred over the vocabulary";
  for (const auto& block : w.blocks) EXPECT_EQ(block.attn.b_V.abs().max().item<double>(), 0.0);
}

}  // namespace arrakis::test
