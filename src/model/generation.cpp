#include "arrakis/model/generation.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "arrakis/error.hpp"
#include "arrakis/util/seeded_generator.hpp"

namespace arrakis {

using torch::indexing::Slice;

torch::Tensor sample_next_token(const torch::Tensor& logits, const GenerateOptions& o, torch::Generator& generator) {
  auto scores = logits.to(torch::kFloat32);
  if (o.temperature <= 0.0) return scores.argmax(-1);
  scores = scores / o.temperature;
  const double minus_inf = -std::numeric_limits<double>::infinity();
  if (o.top_k > 0 && o.top_k < scores.size(-1)) {
    auto kth = std::get<0>(scores.topk(o.top_k, -1)).index({Slice(), -1}).unsqueeze(-1);
    scores = scores.masked_fill(scores < kth, minus_inf);
  }
  if (o.top_p < 1.0) {
    auto [sorted, order] = scores.sort(-1, /*descending=*/true);
    auto cumulative = torch::softmax(sorted, -1).cumsum(-1);
    // Drop a token when the tokens before it already reach top_p (the most likely one always stays).
    auto drop_sorted = (cumulative - torch::softmax(sorted, -1)) >= o.top_p;
    auto drop = torch::zeros_like(drop_sorted).scatter(-1, order, drop_sorted);
    scores = scores.masked_fill(drop, minus_inf);
  }
  auto probs = torch::softmax(scores, -1).to(torch::kCPU);
  return torch::multinomial(probs, 1, /*replacement=*/false, generator).squeeze(-1).to(logits.device());
}

GenerateResult generate(HookedTransformer& model, const torch::Tensor& prompt_input, const GenerateOptions& o,
                        const torch::Tensor& prompt_mask) {
  if (o.max_new_tokens < 0) throw Error(fmt::format("max_new_tokens must be >= 0, got {}", o.max_new_tokens));
  if (o.top_p <= 0.0 || o.top_p > 1.0) throw Error(fmt::format("top_p must be in (0, 1], got {}", o.top_p));
  if (o.top_k < 0) throw Error(fmt::format("top_k must be >= 0, got {}", o.top_k));
  torch::NoGradGuard no_grad;
  const auto device = model.device();
  auto prompt = (prompt_input.dim() == 1 ? prompt_input.unsqueeze(0) : prompt_input).to(device, torch::kInt64);
  const int64_t batch = prompt.size(0), prompt_length = prompt.size(1);
  if (prompt_length + o.max_new_tokens > model.config().n_ctx)
    throw Error(fmt::format("a prompt of {} tokens plus {} new ones is longer than the model's context (n_ctx {})",
                            prompt_length, o.max_new_tokens, model.config().n_ctx));

  std::vector<int64_t> stop = o.stop_tokens;
  if (o.stop_at_eos && model.has_tokenizer() && model.tokenizer().special_tokens().eos)
    stop.push_back(*model.tokenizer().special_tokens().eos);
  auto stop_ids = torch::tensor(stop, torch::TensorOptions().dtype(torch::kInt64)).to(device);

  auto generator = seeded_generator(o.seed);
  auto tokens = prompt;
  auto mask = prompt_mask.defined()
                  ? prompt_mask.to(device, torch::kInt64)
                  : torch::ones({batch, prompt_length}, torch::TensorOptions().dtype(torch::kInt64).device(device));
  auto finished = torch::zeros({batch}, torch::TensorOptions().dtype(torch::kBool).device(device));
  auto last_token = torch::zeros({batch}, torch::TensorOptions().dtype(torch::kInt64).device(device));
  std::vector<int64_t> lengths(batch, 0);

  KeyValueCache kv;
  for (int64_t step = 0; step < o.max_new_tokens; ++step) {
    ForwardOptions forward;
    torch::Tensor logits;
    // Without prompt padding no mask is passed at all: the forward then takes its unpadded (cheaper) path.
    const bool padded = prompt_mask.defined();
    if (o.use_kv_cache) {
      forward.kv_cache = &kv;
      const bool first = step == 0;
      const auto& input = first ? tokens : tokens.index({Slice(), Slice(-1, torch::indexing::None)});
      if (padded) forward.attention_mask = first ? mask : mask.index({Slice(), Slice(-1, torch::indexing::None)});
      logits = model(input, forward);
    } else {
      if (padded) forward.attention_mask = mask;
      logits = model(tokens, forward);
    }
    auto next = sample_next_token(logits.index({Slice(), -1}), o, generator);
    // A finished sequence repeats its stop token (it keeps attending normally; its tokens are ignored).
    next = torch::where(finished, last_token, next);
    for (int64_t b = 0; b < batch; ++b)
      if (!finished[b].item<bool>()) ++lengths[b];
    if (stop_ids.numel()) finished = finished.logical_or(torch::isin(next, stop_ids));
    last_token = next;
    tokens = torch::cat({tokens, next.unsqueeze(1)}, 1);
    mask = torch::cat({mask, torch::ones({batch, 1}, mask.options())}, 1);
    if (o.on_step) o.on_step(step, next);
    if (finished.all().item<bool>()) break;
  }

  GenerateResult result;
  result.tokens = tokens;
  result.attention_mask = mask;
  result.prompt_length = prompt_length;
  result.generated_lengths = lengths;
  if (o.return_cache) {
    ForwardOptions forward;
    forward.attention_mask = prompt_mask.defined() ? mask : torch::Tensor();
    result.cache = model.run_with_cache(tokens, o.cache_names, forward).second;
  }
  if (model.has_tokenizer()) {
    auto cpu = tokens.to(torch::kCPU, torch::kInt64).contiguous();
    auto real = mask.to(torch::kCPU, torch::kInt64).contiguous();
    const auto token_at = cpu.accessor<int64_t, 2>();
    const auto real_at = real.accessor<int64_t, 2>();
    for (int64_t b = 0; b < batch; ++b) {
      std::vector<int64_t> ids;
      for (int64_t i = 0; i < prompt_length + lengths[b]; ++i)
        if (real_at[b][i]) ids.push_back(token_at[b][i]);
      if (lengths[b] > 0 && std::find(stop.begin(), stop.end(), ids.back()) != stop.end()) ids.pop_back();
      result.texts.push_back(model.tokenizer().decode(ids, /*skip_special=*/true));
    }
  }
  return result;
}

GenerateResult generate(HookedTransformer& model, std::string_view prompt, const GenerateOptions& options) {
  return generate(model, model.to_tokens(prompt), options);
}

GenerateResult generate(HookedTransformer& model, std::span<const std::string> prompts,
                        const GenerateOptions& options) {
  ToTokensOptions tokens_options;
  tokens_options.prepend_bos = model.config().default_prepend_bos;
  tokens_options.padding_side = PaddingSide::Left;  // the next token of every row sits in the last column
  auto batch = model.to_tokens(prompts, tokens_options);
  return generate(model, batch.input_ids, options, batch.attention_mask);
}

}  // namespace arrakis
