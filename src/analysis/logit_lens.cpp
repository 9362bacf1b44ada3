#include "arrakis/analysis/logit_lens.hpp"

#include <fmt/format.h>

#include "arrakis/analysis/residual_stream.hpp"
#include "arrakis/error.hpp"
#include "arrakis/hooks/hook_catalogue.hpp"
#include "arrakis/model/norm_semantics.hpp"

namespace arrakis {
namespace {

// The final norm's weight and bias on an already normalised stream.
torch::Tensor final_affine(const HookedTransformer& model, const torch::Tensor& normalized) {
  return norm_affine(model.config().normalization, model.weights().ln_final, normalized);
}

}  // namespace

LogitLens logit_lens(const HookedTransformer& model, const ActivationCache& cache, const LogitLensOptions& options) {
  if (options.top_k < 1) throw Error(fmt::format("logit lens: top_k must be at least 1, got {}", options.top_k));
  auto streams = accumulated_resid(model, cache, {.incl_mid = options.incl_mid});
  const int64_t n = streams.components.size(0);
  const int64_t vocab = model.config().vocab_out();
  const int64_t k = std::min<int64_t>(options.top_k, vocab);
  const bool cached = options.final_cached_scale && model.config().normalization != NormType::None;

  auto decode = [&](const torch::Tensor& resid) {
    auto normalized =
        cached
            ? final_affine(
                  model, apply_ln_to_stack(model, cache, resid.unsqueeze(0), {.mode = ApplyLn::CachedScale}).squeeze(0))
            : model.ln_final(resid);
    return model.unembed(normalized).to(torch::kFloat32);  // [batch, pos, vocab]
  };

  LogitLens lens;
  lens.labels = streams.labels;
  const auto& first = streams.components[0];
  if (options.targets.defined()) {
    if (options.targets.sizes() != first.sizes().slice(0, 2))
      throw Error(fmt::format("logit lens: targets must be [batch, pos] = [{}, {}] like the tokens", first.size(0),
                              first.size(1)));
    lens.targets = options.targets.to(first.device(), torch::kInt64);
    if (lens.targets.min().item<int64_t>() < 0 || lens.targets.max().item<int64_t>() >= vocab)
      throw Error(fmt::format("logit lens: a target token is outside the vocabulary (size {})", vocab));
  } else {
    lens.targets = decode(streams.components[n - 1]).argmax(-1);
  }
  std::vector<torch::Tensor> top_tokens, top_probs, target_probs, target_ranks;
  for (int64_t i = 0; i < n; ++i) {
    auto logits = decode(streams.components[i]);
    auto probs = torch::softmax(logits, -1);
    auto [p, ids] = probs.topk(k, -1);
    top_tokens.push_back(ids);
    top_probs.push_back(p);
    auto target = lens.targets.unsqueeze(-1);
    target_probs.push_back(probs.gather(-1, target).squeeze(-1));
    target_ranks.push_back((logits > logits.gather(-1, target)).sum(-1));
  }
  lens.top_tokens = torch::stack(top_tokens);
  lens.top_probs = torch::stack(top_probs);
  lens.target_probs = torch::stack(target_probs);
  lens.target_ranks = torch::stack(target_ranks).to(torch::kInt64);
  return lens;
}

LogitLens run_logit_lens(HookedTransformer& model, const torch::Tensor& tokens, const LogitLensOptions& options) {
  torch::NoGradGuard no_grad;
  ForwardOptions forward;
  forward.attention_mask = options.attention_mask;
  auto [logits, cache] = model.run_with_cache(
      tokens, hook_kinds({HookKind::ResidPre, HookKind::ResidMid, HookKind::ResidPost, HookKind::LnFinalScale}),
      forward);
  return logit_lens(model, cache, options);
}

}  // namespace arrakis
