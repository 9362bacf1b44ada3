#include "arrakis/analysis/head_detectors.hpp"

#include <fmt/format.h>

#include "arrakis/error.hpp"
#include "arrakis/hooks/hook_catalogue.hpp"
#include "arrakis/util/seeded_generator.hpp"

namespace arrakis {
namespace {

// Mean over the batch and the queries q >= first of pattern[q, q - lag]: [heads].
torch::Tensor lagged_diagonal_mean(const torch::Tensor& pattern, int64_t lag, int64_t first, const char* what) {
  const int64_t pos = pattern.size(-2);
  first = std::max(first, lag);
  if (lag < 0 || first >= pos)
    throw Error(
        fmt::format("{} score: no query position q >= {} with a key at q - {} in {} positions", what, first, lag, pos));
  // diagonal(-lag) holds pattern[lag + i, i] for i = 0..pos-lag-1: the query is lag + i.
  auto diagonal = pattern.diagonal(-lag, -2, -1).narrow(-1, first - lag, pos - first);  // [batch, heads, n]
  return diagonal.mean(-1).mean(0);
}

}  // namespace

HeadScores layer_head_scores(const torch::Tensor& pattern, const RepeatPeriod& repeats) {
  const int64_t period = repeats.period, offset = repeats.offset;
  if (pattern.dim() != 4 || pattern.size(2) != pattern.size(3))
    throw Error(fmt::format("head scores need a pattern [batch, heads, pos, pos], got {} dimensions", pattern.dim()));
  if (period < 1) throw Error(fmt::format("head scores: the period must be at least 1, got {}", period));
  if (offset < 0) throw Error(fmt::format("head scores: the offset must be >= 0, got {}", offset));
  auto p = pattern.to(torch::kFloat32);
  HeadScores s;
  s.previous_token = lagged_diagonal_mean(p, 1, 1, "previous-token");
  s.duplicate_token = lagged_diagonal_mean(p, period, offset + period, "duplicate-token");
  s.induction = lagged_diagonal_mean(p, period - 1, offset + period, "induction");
  // 0 * ln 0 = 0: masked keys have probability exactly 0.
  auto plogp = torch::where(p > 0, p * p.log(), torch::zeros_like(p));
  s.entropy = (-plogp.sum(-1)).mean(-1).mean(0);
  return s;
}

HeadScores head_scores(HookedTransformer& model, const torch::Tensor& tokens, const RepeatPeriod& repeats) {
  const int64_t period = repeats.period, offset = repeats.offset;
  const auto& c = model.config();
  if (tokens.dim() != 2) throw Error("head scores: tokens must be [batch, pos]");
  if (offset + period >= tokens.size(1))
    throw Error(
        fmt::format("head scores: {} positions hold no repeat of period {} after offset {} (need more than "
                    "{} positions)",
                    tokens.size(1), period, offset, offset + period));
  torch::NoGradGuard no_grad;
  std::vector<HeadScores> layers(c.n_layers);
  {
    auto guard =
        model.add_hook(hook_kinds({HookKind::Pattern}), [&](const torch::Tensor& pattern, const HookPoint& point) {
          layers.at(point.layer) = layer_head_scores(pattern, repeats);
        });
    model.forward(tokens);
  }
  auto stack = [&](torch::Tensor HeadScores::*field) {
    std::vector<torch::Tensor> rows;
    for (const auto& l : layers) rows.push_back(l.*field);
    return torch::stack(rows);
  };
  return {stack(&HeadScores::previous_token), stack(&HeadScores::duplicate_token), stack(&HeadScores::induction),
          stack(&HeadScores::entropy)};
}

torch::Tensor repeated_random_sequences(const RepeatedSequencesOptions& o) {
  const int64_t batch = o.batch, period = o.period, repeats = o.repeats, low = o.low, high = o.high;
  if (batch < 1 || period < 1 || repeats < 2)
    throw Error(fmt::format("repeated random sequences need batch >= 1, period >= 1 and repeats >= 2 (got {}, {}, {})",
                            batch, period, repeats));
  if (high <= low) throw Error(fmt::format("repeated random sequences: empty token range [{}, {})", low, high));
  auto generator = seeded_generator(o.seed);
  auto segment = torch::randint(low, high, {batch, period}, generator, torch::kInt64);
  auto tokens = segment.repeat({1, repeats});
  if (o.bos) tokens = torch::cat({torch::full({batch, 1}, *o.bos, torch::kInt64), tokens}, 1);
  return tokens;
}

}  // namespace arrakis
