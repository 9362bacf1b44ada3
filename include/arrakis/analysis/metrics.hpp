#pragma once
// Metrics of a forward's logits, one value per prompt: logit difference, normalised patched logit difference,
// log-probability of a token, loss, KL divergence. Activation patching, attribution patching and direct logit
// attribution all take a `Metric`; `parse_metric` reads the command line's spelling of one.
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace arrakis {

class HookedTransformer;

/// A function of logits [batch, pos, vocab] returning one float32 value per prompt, [batch]. Reduce with .mean()
/// for the scalar TransformerLens' metrics return; the per-prompt form is what a batch of patch variants needs.
/// Metrics are differentiable (attribution patching backpropagates through them).
using Metric = std::function<torch::Tensor(const torch::Tensor& logits)>;

/// Where each prompt is read: one index for every prompt (negative counts from the end; -1 = the last position,
/// which is the last real token of left-padded batches) or one index per prompt (int64 [batch], e.g. the last
/// real token of right-padded prompts, or the position of a name in IOI prompts).
struct ReadPosition {
  ReadPosition(int64_t index = -1) : index(index) {}  // NOLINT: an int is the natural spelling
  ReadPosition(torch::Tensor per_prompt) : per_prompt(std::move(per_prompt)) {}  // NOLINT
  /// The last real (mask == 1) position of every prompt of an attention mask [batch, pos].
  static ReadPosition last_real(const torch::Tensor& attention_mask);

  int64_t index = -1;
  torch::Tensor per_prompt;
};

/// The rows of `x` [batch, pos, ...] at each prompt's read position: [batch, ...].
torch::Tensor select_position(const torch::Tensor& x, const ReadPosition& position);

/// logits[b, p, answer[b]] - logits[b, p, wrong[b]] per prompt [batch]. `answer`/`wrong` are int64 [batch] (or
/// scalars, broadcast to every prompt).
torch::Tensor logit_diff(const torch::Tensor& logits, const torch::Tensor& answer, const torch::Tensor& wrong,
                         const ReadPosition& position = {});
/// Its mean over prompts (TransformerLens' `logits_to_ave_logit_diff`), a scalar.
torch::Tensor mean_logit_diff(const torch::Tensor& logits, const torch::Tensor& answer, const torch::Tensor& wrong,
                              const ReadPosition& position = {});
/// (patched - corrupted) / (clean - corrupted): 0 = the corrupted run's value, 1 = the clean run's (the normalised
/// patched logit difference of the IOI walkthrough). Works elementwise on tensors of any shape.
torch::Tensor normalized_metric(const torch::Tensor& patched, double clean, double corrupted);

Metric logit_diff_metric(int64_t answer, int64_t wrong, const ReadPosition& position = {});
Metric logit_diff_metric(const torch::Tensor& answers, const torch::Tensor& wrongs, const ReadPosition& position = {});
/// log softmax(logits)[b, p, token].
Metric logprob_metric(int64_t token, const ReadPosition& position = {});
Metric logprob_metric(const torch::Tensor& tokens, const ReadPosition& position = {});
/// Mean next-token cross-entropy of each prompt on `tokens` [batch, pos] (padded targets ignored when a mask is
/// given): `lm_loss(..., per_token=true)` averaged per prompt.
Metric loss_metric(const torch::Tensor& tokens, const torch::Tensor& attention_mask = {});
/// KL(reference || logits) at the read position: sum_v p_ref(v) (log p_ref(v) - log p(v)), per prompt. Zero when the
/// logits give the reference's distribution; grows as a patch moves them away.
Metric kl_metric(const torch::Tensor& reference_logits, const ReadPosition& position = {});
/// `metric` mapped through normalized_metric.
Metric normalized(Metric metric, double clean, double corrupted);

/// What the runs a parsed metric is evaluated on provide.
struct MetricContext {
  torch::Tensor tokens;            // [batch, pos]: the targets of `loss`
  torch::Tensor attention_mask;    // [batch, pos] or undefined; with padding, `loss` ignores padded targets
  torch::Tensor reference_logits;  // for `kl` (e.g. the clean run's logits)
  ReadPosition position;           // where logit-diff, logprob and kl read the logits
};

/// A metric from its command-line spelling:
///   `logit-diff:A,B`  logit of token A minus logit of token B (at the read position, -1 = last)
///   `logprob:T`       log-probability of token T
///   `loss`            mean next-token loss of each prompt on MetricContext::tokens
///   `kl`              KL(reference || logits) against MetricContext::reference_logits
/// A, B, T are token ids, or (for a model with a tokenizer) texts that are exactly one token, e.g.
/// `logit-diff: Mary, John`; an all-digit spelling is read as an id.
enum class MetricKind { LogitDiff, Logprob, Loss, Kl };
/// "logit-diff", "logprob", "loss", "kl" (the command line's spellings).
std::string_view to_string(MetricKind kind);

struct ParsedMetric {
  std::string spec;  // as given
  MetricKind kind = MetricKind::LogitDiff;
  Metric metric;
  int64_t answer = -1;  // logit-diff: A; logprob: T
  int64_t wrong = -1;   // logit-diff: B
  /// True for metrics linear in the logits at one position (logit-diff), whose direct logit attribution is exact;
  /// logprob's attribution is that of the token's logit (its linear part).
  bool linear() const { return kind == MetricKind::LogitDiff; }
  /// The last position's logits only (logit-diff, logprob and kl at position -1), and which of them (logit-diff's
  /// two tokens; empty: all): what patching's fast path may restrict itself to.
  bool reads_last_position() const { return kind != MetricKind::Loss; }
  std::vector<int64_t> reads_tokens() const;
};

/// Throws arrakis::Error naming the spelling and what is wrong: an unknown kind, a token that is not in the model's
/// vocabulary or is not a single token, `loss` without tokens, `kl` without reference logits.
ParsedMetric parse_metric(std::string_view spec, const HookedTransformer& model, const MetricContext& context = {});
/// A token id from its spelling: an id, or a text that the model's tokenizer makes exactly one token.
int64_t parse_token(std::string_view spelling, const HookedTransformer& model, std::string_view what);

}  // namespace arrakis
