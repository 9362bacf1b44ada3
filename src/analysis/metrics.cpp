#include "arrakis/analysis/metrics.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cctype>

#include "arrakis/error.hpp"
#include "arrakis/model/hooked_transformer.hpp"

namespace arrakis {
namespace {

// Metrics are computed in float32 at least (bfloat16 logits lose the small differences a patch makes).
torch::Tensor as_float(const torch::Tensor& t) {
  return t.scalar_type() == torch::kFloat64 ? t : t.to(torch::kFloat32);
}

torch::Tensor per_prompt_ids(const torch::Tensor& ids, int64_t batch, torch::Device device, const char* what) {
  auto t = ids.to(device, torch::kInt64);
  if (t.dim() == 0) return t.expand({batch});
  if (t.dim() != 1 || t.size(0) != batch)
    throw Error(fmt::format("{} must be a scalar or [batch={}] token ids, got shape {}", what, batch,
                            fmt::join(t.sizes(), ", ")));
  return t;
}

void check_logits(const torch::Tensor& logits, const char* metric) {
  if (logits.dim() != 3)
    throw Error(fmt::format("{}: logits must be [batch, pos, vocab], got {} dimensions", metric, logits.dim()));
}

torch::Tensor token_logits(const torch::Tensor& at_position, const torch::Tensor& ids, const char* what) {
  auto t = per_prompt_ids(ids, at_position.size(0), at_position.device(), what);
  if (t.numel() > 0 && (t.min().item<int64_t>() < 0 || t.max().item<int64_t>() >= at_position.size(-1)))
    throw Error(fmt::format("{}: a token id is outside the vocabulary (size {})", what, at_position.size(-1)));
  return at_position.gather(-1, t.unsqueeze(-1)).squeeze(-1);
}

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// Texts keep their spaces (" Mary" and "Mary" are different tokens); ids may be padded with spaces.
std::string token_spelling(std::string_view s) {
  auto t = trim(s);
  return all_digits(t) ? t : std::string(s);
}

}  // namespace

ReadPosition ReadPosition::last_real(const torch::Tensor& attention_mask) {
  if (attention_mask.dim() != 2) throw Error("ReadPosition::last_real: attention_mask must be [batch, pos]");
  auto pos = attention_mask.size(1);
  auto index = torch::arange(pos, attention_mask.options().dtype(torch::kInt64));
  // The largest index whose mask is set (0 for an all-padding row).
  return ReadPosition((index * (attention_mask != 0).to(torch::kInt64)).amax(1));
}

torch::Tensor select_position(const torch::Tensor& x, const ReadPosition& position) {
  if (x.dim() < 2) throw Error(fmt::format("select_position: expected [batch, pos, ...], got {} dimensions", x.dim()));
  const int64_t batch = x.size(0), pos = x.size(1);
  if (!position.per_prompt.defined()) {
    int64_t p = position.index < 0 ? pos + position.index : position.index;
    if (p < 0 || p >= pos)
      throw Error(fmt::format("read position {} is outside the {} positions", position.index, pos));
    return x.select(1, p);
  }
  auto idx = position.per_prompt.to(x.device(), torch::kInt64);
  if (idx.dim() != 1 || idx.size(0) != batch)
    throw Error(fmt::format("per-prompt read positions must be [batch={}], got shape [{}]", batch,
                            fmt::join(idx.sizes(), ", ")));
  idx = torch::where(idx < 0, idx + pos, idx);
  if (batch > 0 && (idx.min().item<int64_t>() < 0 || idx.max().item<int64_t>() >= pos))
    throw Error(fmt::format("a per-prompt read position is outside the {} positions", pos));
  return x.index({torch::arange(batch, idx.options()), idx});
}

torch::Tensor logit_diff(const torch::Tensor& logits, const torch::Tensor& answer, const torch::Tensor& wrong,
                         const ReadPosition& position) {
  check_logits(logits, "logit_diff");
  auto at = as_float(select_position(logits, position));
  return token_logits(at, answer, "logit_diff answer") - token_logits(at, wrong, "logit_diff wrong answer");
}

torch::Tensor mean_logit_diff(const torch::Tensor& logits, const torch::Tensor& answer, const torch::Tensor& wrong,
                              const ReadPosition& position) {
  return logit_diff(logits, answer, wrong, position).mean();
}

torch::Tensor normalized_metric(const torch::Tensor& patched, double clean, double corrupted) {
  if (clean == corrupted)
    throw Error(
        fmt::format("normalised metric: the clean and corrupted runs give the same value ({}), so there is "
                    "nothing to normalise by",
                    clean));
  return (patched - corrupted) / (clean - corrupted);
}

Metric logit_diff_metric(int64_t answer, int64_t wrong, const ReadPosition& position) {
  return logit_diff_metric(torch::tensor(answer), torch::tensor(wrong), position);
}

Metric logit_diff_metric(const torch::Tensor& answers, const torch::Tensor& wrongs, const ReadPosition& position) {
  return [answers, wrongs, position](const torch::Tensor& logits) {
    return logit_diff(logits, answers, wrongs, position);
  };
}

Metric logprob_metric(int64_t token, const ReadPosition& position) {
  return logprob_metric(torch::tensor(token), position);
}

Metric logprob_metric(const torch::Tensor& tokens, const ReadPosition& position) {
  return [tokens, position](const torch::Tensor& logits) {
    check_logits(logits, "logprob");
    auto log_probs = torch::log_softmax(as_float(select_position(logits, position)), -1);
    return token_logits(log_probs, tokens, "logprob token");
  };
}

Metric loss_metric(const torch::Tensor& tokens, const torch::Tensor& attention_mask) {
  if (!tokens.defined() || tokens.dim() != 2) throw Error("loss metric: tokens must be [batch, pos]");
  if (tokens.size(1) < 2) throw Error("loss metric: a next-token loss needs at least 2 positions");
  return [tokens, attention_mask](const torch::Tensor& logits) {
    check_logits(logits, "loss");
    if (logits.size(0) != tokens.size(0) || logits.size(1) != tokens.size(1))
      throw Error(fmt::format("loss metric: logits [{}] do not match the tokens [{}]", fmt::join(logits.sizes(), ", "),
                              fmt::join(tokens.sizes(), ", ")));
    using torch::indexing::Slice;
    auto log_probs = torch::log_softmax(as_float(logits.index({Slice(), Slice(0, -1)})), -1);
    auto targets = tokens.index({Slice(), Slice(1, torch::indexing::None)}).to(logits.device(), torch::kInt64);
    auto nll = -log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1);  // [batch, pos - 1]
    if (!attention_mask.defined()) return nll.mean(1);
    auto real = attention_mask.index({Slice(), Slice(1, torch::indexing::None)}).to(nll.device(), nll.scalar_type());
    return (nll * real).sum(1) / real.sum(1).clamp_min(1);
  };
}

Metric kl_metric(const torch::Tensor& reference_logits, const ReadPosition& position) {
  check_logits(reference_logits, "kl");
  auto reference = torch::log_softmax(as_float(select_position(reference_logits, position)), -1).detach();
  return [reference, position](const torch::Tensor& logits) {
    check_logits(logits, "kl");
    auto log_p = torch::log_softmax(as_float(select_position(logits, position)), -1);
    if (log_p.sizes() != reference.sizes())
      throw Error(fmt::format("kl metric: logits at the read position [{}] do not match the reference's [{}]",
                              fmt::join(log_p.sizes(), ", "), fmt::join(reference.sizes(), ", ")));
    auto ref = reference.to(log_p.device(), log_p.scalar_type());
    return (ref.exp() * (ref - log_p)).sum(-1);
  };
}

Metric normalized(Metric metric, double clean, double corrupted) {
  if (clean == corrupted) normalized_metric(torch::zeros({1}), clean, corrupted);  // throws the explanation
  return [metric = std::move(metric), clean, corrupted](const torch::Tensor& logits) {
    return normalized_metric(metric(logits), clean, corrupted);
  };
}

int64_t parse_token(std::string_view spelling, const HookedTransformer& model, std::string_view what) {
  const int64_t vocab = model.config().vocab_out();
  if (all_digits(spelling)) {
    int64_t id = -1;
    try {
      id = std::stoll(std::string(spelling));
    } catch (const std::exception&) {
    }
    if (id < 0 || id >= vocab)
      throw Error(fmt::format("{}: token id {} is outside the vocabulary (size {})", what, spelling, vocab));
    return id;
  }
  if (!model.has_tokenizer())
    throw Error(
        fmt::format("{}: '{}' is not a token id, and the model has no tokenizer to read it as text", what, spelling));
  try {
    int64_t id = model.to_single_token(spelling);
    if (id >= vocab) throw Error(fmt::format("token {} is beyond the unembedding (size {})", id, vocab));
    return id;
  } catch (const Error& e) {
    throw Error(fmt::format("{}: '{}' is not a single token: {}", what, spelling, e.what()));
  }
}

std::string_view to_string(MetricKind kind) {
  switch (kind) {
    case MetricKind::LogitDiff: return "logit-diff";
    case MetricKind::Logprob: return "logprob";
    case MetricKind::Loss: return "loss";
    case MetricKind::Kl: return "kl";
  }
  return "?";
}

std::vector<int64_t> ParsedMetric::reads_tokens() const {
  if (kind == MetricKind::LogitDiff) return {answer, wrong};
  return {};
}

ParsedMetric parse_metric(std::string_view spec, const HookedTransformer& model, const MetricContext& context) {
  ParsedMetric parsed;
  parsed.spec = std::string(spec);
  auto colon = spec.find(':');
  std::string kind = trim(spec.substr(0, colon));
  std::string_view args = colon == std::string_view::npos ? std::string_view{} : spec.substr(colon + 1);
  const auto where = fmt::format("metric '{}'", spec);
  if (kind == "logit-diff" || kind == "logit_diff") {
    parsed.kind = MetricKind::LogitDiff;
    auto comma = args.find(',');
    if (colon == std::string_view::npos || comma == std::string_view::npos)
      throw Error(fmt::format("{}: write logit-diff:A,B (A and B token ids or single-token texts)", where));
    parsed.answer = parse_token(token_spelling(args.substr(0, comma)), model, where + " token A");
    parsed.wrong = parse_token(token_spelling(args.substr(comma + 1)), model, where + " token B");
    parsed.metric = logit_diff_metric(parsed.answer, parsed.wrong, context.position);
  } else if (kind == "logprob") {
    parsed.kind = MetricKind::Logprob;
    if (colon == std::string_view::npos || args.empty())
      throw Error(fmt::format("{}: write logprob:T (T a token id or a single-token text)", where));
    parsed.answer = parse_token(token_spelling(args), model, where + " token");
    parsed.metric = logprob_metric(parsed.answer, context.position);
  } else if (kind == "loss") {
    parsed.kind = MetricKind::Loss;
    if (!context.tokens.defined()) throw Error(fmt::format("{}: the loss needs the tokens of the run", where));
    parsed.metric = loss_metric(context.tokens, context.attention_mask);
  } else if (kind == "kl") {
    parsed.kind = MetricKind::Kl;
    if (!context.reference_logits.defined())
      throw Error(fmt::format("{}: KL needs reference logits (e.g. the clean run's)", where));
    parsed.metric = kl_metric(context.reference_logits, context.position);
  } else {
    throw Error(fmt::format("{}: unknown metric '{}' (expected logit-diff:A,B, logprob:T, loss or kl)", where, kind));
  }
  return parsed;
}

}  // namespace arrakis
