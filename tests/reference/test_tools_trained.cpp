// The seeds' tools on ../shared/models/tl/induction-2l (a previous-token head L0H2 feeding induction heads in
// layer 1): what the tools say must agree with the known circuit and with the circuits code.
#include <gtest/gtest.h>

#include "arrakis/analysis/circuits.hpp"
#include "arrakis/analysis/head_detectors.hpp"
#include "arrakis/model/loading.hpp"
#include "arrakis/tools/attention_tool.hpp"
#include "arrakis/tools/causal_tool.hpp"
#include "arrakis/tools/composer_tool.hpp"
#include "arrakis/tools/write_read_tool.hpp"
#include "reference/trained_models.hpp"
#include "test_support.hpp"

namespace arrakis {
namespace {

using test::induction_model;

TEST(ToolsTrained, ReadHeadsOfThePreviousTokenHeadAreTheInductionHeads) {
  ARRAKIS_REQUIRE_SHARED();
  auto model = induction_model();
  WriteReadTool write_read(model);
  ComposerTool composer(model);
  auto ranking = write_read.identify_read_heads(
      {.layer = 1, .direction = ReadDirection::head_output({0, 2}), .threshold = 1.0, .via = ReadVia::K});
  const auto k_comp = all_composition_scores(model, CompositionKind::K).to(torch::kFloat64);
  EXPECT_TRUE(torch::allclose(ranking.scores, k_comp.index({0, 2, 1}), 1e-6, 1e-8));
  ASSERT_EQ(ranking.heads.size(), 4u);
  EXPECT_EQ(ranking.heads.back().head, (Head{1, 0}));  // L1H1, L1H2, L1H3 all rank above L1H0
  // head_composition(L0H2, L1H1) is the same K-composition score.
  EXPECT_NEAR(composer.head_composition({.head1 = {0, 2}, .head2 = {1, 1}}).k, k_comp[0][2][1][1].item<double>(), 1e-6);
}

TEST(ToolsTrained, InductionHeadsAttendToAndMoveTheTokenAfterThePreviousOccurrence) {
  ARRAKIS_REQUIRE_SHARED();
  auto model = induction_model();
  AttentionTool attention(model);
  WriteReadTool write_read(model);
  const int64_t period = 16;
  auto tokens = repeated_random_sequences(
      {.batch = 8, .period = period, .repeats = 3, .high = model.config().d_vocab, .seed = 3});
  // At query q in the third copy, the tokens after the earlier occurrences of tokens[q] sit at q - period + 1 and
  // q - 2 period + 1. Induction heads attend there most at about 90 % of the queries (115 of 128 here).
  for (int head : {1, 2, 3}) {
    int hits = 0, queries = 0;
    for (int64_t query = 2 * period; query < 3 * period; ++query) {
      auto top =
          attention.top_attended_ids({.tokens = tokens, .layer = 1, .head = head, .num_tokens = 1, .query = query});
      for (const auto& row : top.top) {
        hits += row[0].position == query - period + 1 || row[0].position == query - 2 * period + 1;
        ++queries;
      }
    }
    EXPECT_GE(hits, queries * 8 / 10) << "L1H" << head << " attends most to the token after an earlier occurrence at "
                                      << hits << " of " << queries << " queries";
  }
  const int64_t query = 2 * period + 6;
  auto flow = write_read.trace_information_flow(
      {.tokens = tokens, .source = query - period + 1, .destination = query, .n_layers = 2});
  // The largest direct flows into the second-copy position from that source are the layer-1 induction heads.
  ASSERT_GE(flow.top_paths.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(flow.top_paths[i].head.layer, 1) << flow.to_json().dump();
    EXPECT_NE(flow.top_paths[i].head.head, 0) << flow.to_json().dump();
  }
}

TEST(ToolsTrained, AblatingGrokkingNeuronsChangesTheAnswersAsZeroedWeightsDo) {
  ARRAKIS_REQUIRE_SHARED();
  auto model = load_pretrained(test::shared_dir() / "models/tl/grokking-mod113");
  CausalTool causal(model);
  const int64_t p = 113;
  auto a = torch::arange(p).repeat_interleave(p), b = torch::arange(p).repeat(p);
  auto tokens = torch::stack({a, b, torch::full({p * p}, p, torch::kInt64)}, 1);  // every "a b =", [12769, 3]
  auto& W_out = model.weights().blocks[0].mlp.W_out;                              // [d_mlp, d_model]
  // The neurons that write most (the largest rows of W_out) and one of the weakest.
  auto order = std::get<1>(W_out.norm(2, 1).sort(0, /*descending=*/true));
  int64_t changed_total = 0;
  for (int64_t neuron : {order[0].item<int64_t>(), order[1].item<int64_t>(), order[-1].item<int64_t>()}) {
    auto ablated = causal.intervene_on_neuron({.tokens = tokens, .layer = 0, .neuron = neuron});
    const auto answers = ablated.logits.index({torch::indexing::Slice(), torch::indexing::Slice(0, p)}).argmax(-1);
    // The independent recomputation: the same model with the neuron's output weights zeroed.
    const auto saved = W_out[neuron].clone();
    W_out[neuron].zero_();
    torch::Tensor expected;
    {
      torch::NoGradGuard no_grad;
      expected =
          model.forward(tokens).select(1, 2).index({torch::indexing::Slice(), torch::indexing::Slice(0, p)}).argmax(-1);
    }
    W_out[neuron].copy_(saved);
    EXPECT_TRUE(torch::equal(answers, expected)) << "neuron " << neuron;
    changed_total += (answers != (a + b) % p).sum().item<int64_t>();
  }
  EXPECT_GT(changed_total, 0) << "ablating the strongest neurons changed no answer";
}

}  // namespace
}  // namespace arrakis
