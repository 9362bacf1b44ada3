#include "arrakis/model/hooked_transformer.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "arrakis/error.hpp"
#include "arrakis/runtime/blas_kernel_choice.hpp"
#include "model/attention.hpp"
#include "model/attention_context.hpp"
#include "model/linear.hpp"
#include "model/mlp.hpp"
#include "model/norm.hpp"

namespace arrakis {

using torch::indexing::Slice;

HookedTransformer::HookedTransformer(ModelConfig config, ModelWeights weights, std::shared_ptr<Tokenizer> tokenizer)
    : config_(std::move(config)), weights_(std::move(weights)), tokenizer_(std::move(tokenizer)) {
  select_blas_kernel();  // once per process, before the first matmul: the right BLAS kernels for this CPU
  config_.validate();
  weights_.validate(config_);
  weights_.canonicalize_layout();
  declare_hook_points();
}

WeightProcessingReport HookedTransformer::process_weights(const WeightProcessing& options) {
  // Folding changes the norms' kind (LayerNorm -> LNPre), never whether there are norms: the hook points stay.
  return arrakis::process_weights(config_, weights_, options);
}

void HookedTransformer::declare_hook_points() {
  // From the catalogue, in forward order: the points before the blocks, each block's, the points after them.
  const auto& c = config_;
  auto declare_model_point = [&](HookKind kind) {
    return model_has(c, kind) ? hooks_.declare(hook_name(kind), -1) : -1;
  };
  hook_embed_ = declare_model_point(HookKind::Embed);
  hook_pos_embed_ = declare_model_point(HookKind::PosEmbed);
  block_hooks_.assign(c.n_layers, {});
  for (int l = 0; l < c.n_layers; ++l)
    for (const auto& spec : hook_catalogue())
      if (spec.in_block() && model_has(c, spec.kind)) block_hooks_[l].*spec.slot = hooks_.declare(spec.name(l), l);
  hook_ln_final_scale_ = declare_model_point(HookKind::LnFinalScale);
  hook_ln_final_normalized_ = declare_model_point(HookKind::LnFinalNormalized);
  set_use_attn_result(false);
  set_use_split_qkv_input(false);
  set_use_attn_in(false);
  set_use_hook_mlp_in(false);
}

void HookedTransformer::enable_opt_in(HookOptIn opt_in, bool on) {
  for (const auto& spec : hook_catalogue())
    if (spec.opt_in == opt_in)
      for (const auto& ids : block_hooks_)
        if (ids.*spec.slot >= 0) hooks_.set_enabled(ids.*spec.slot, on, how_to_enable(opt_in));
}

void HookedTransformer::set_use_attn_result(bool on) {
  use_attn_result_ = on;
  enable_opt_in(HookOptIn::AttnResult, on);
}

void HookedTransformer::set_use_split_qkv_input(bool on) {
  if (on && use_attn_in_) throw Error("set_use_split_qkv_input(true) conflicts with set_use_attn_in(true)");
  use_split_qkv_input_ = on;
  enable_opt_in(HookOptIn::SplitQkvInput, on);
}

void HookedTransformer::set_use_attn_in(bool on) {
  if (on && use_split_qkv_input_) throw Error("set_use_attn_in(true) conflicts with set_use_split_qkv_input(true)");
  if (on && config_.kv_heads() != config_.n_heads)
    throw Error("set_use_attn_in(true) is not available for grouped-query models: use set_use_split_qkv_input(true)");
  use_attn_in_ = on;
  enable_opt_in(HookOptIn::AttnIn, on);
}

void HookedTransformer::set_use_hook_mlp_in(bool on) {
  use_hook_mlp_in_ = on;
  enable_opt_in(HookOptIn::MlpIn, on);
}

void HookedTransformer::to(torch::Device device) { weights_.to(device, config_.dtype); }

void HookedTransformer::to(torch::Dtype dtype) {
  weights_.to(device(), dtype);
  config_.dtype = dtype;
}

void HookedTransformer::check_tokens(const torch::Tensor& tokens, int64_t past) const {
  if (tokens.dim() != 2) throw Error(fmt::format("tokens must be [batch, pos], got shape {}", tokens.sizes().vec()));
  if (tokens.scalar_type() != torch::kInt64 && tokens.scalar_type() != torch::kInt32)
    throw Error(fmt::format("tokens must be int64, got {}", c10::toString(tokens.scalar_type())));
  if (tokens.size(1) == 0) throw Error("tokens are empty (no positions)");
  if (past + tokens.size(1) > config_.n_ctx)
    throw Error(fmt::format("a sequence of {} tokens{} is longer than the model's context (n_ctx {})", tokens.size(1),
                            past ? fmt::format(" (after {} cached)", past) : "", config_.n_ctx));
  auto min = tokens.min().item<int64_t>(), max = tokens.max().item<int64_t>();
  if (min < 0 || max >= config_.d_vocab) {
    auto bad = (tokens < 0).logical_or(tokens >= config_.d_vocab).nonzero()[0];
    auto b = bad[0].item<int64_t>(), p = bad[1].item<int64_t>();
    throw Error(fmt::format("token id {} at [{}, {}] is outside the vocabulary (d_vocab {})",
                            tokens.index({b, p}).item<int64_t>(), b, p, config_.d_vocab));
  }
}

torch::Tensor HookedTransformer::embed(const torch::Tensor& tokens, const AttentionContext& ctx) {
  auto embedding = torch::embedding(weights_.W_E, tokens);
  // Multiplied by the multiplier rounded to the model's dtype, as Hugging Face's Gemma does.
  if (config_.embedding_multiplier != 1.0)
    embedding = embedding * torch::scalar_tensor(config_.embedding_multiplier, embedding.options());
  auto resid = hooks_.run(hook_embed_, embedding);
  if (config_.positional_embedding == PositionalEmbedding::Learned)
    resid = resid + hooks_.run(hook_pos_embed_, torch::embedding(weights_.W_pos, ctx.positions));
  return resid;
}

torch::Tensor HookedTransformer::final_logits(const torch::Tensor& resid) {
  return unembed(apply_norm(config_.normalization, weights_.ln_final, resid, config_.eps, hooks_, hook_ln_final_scale_,
                            hook_ln_final_normalized_));
}

torch::Tensor HookedTransformer::ln_final(const torch::Tensor& resid) const {
  static const HookRegistry no_hooks;
  return apply_norm(config_.normalization, weights_.ln_final, resid, config_.eps, no_hooks, -1, -1);
}

torch::Tensor HookedTransformer::unembed(const torch::Tensor& normalized) const {
  auto rows = normalized.reshape({-1, config_.d_model});
  auto logits = linear(rows, weights_.W_U, weights_.b_U);
  auto shape = normalized.sizes().vec();
  shape.back() = config_.vocab_out();
  return logits.view(shape);
}

torch::Tensor HookedTransformer::run_block(int layer, torch::Tensor resid, const AttentionContext& ctx,
                                           KeyValueCache* kv, int64_t query_positions) {
  const auto& c = config_;
  const auto& w = weights_.blocks[layer];
  const auto& ids = block_hooks_[layer];
  resid = hooks_.run(ids.resid_pre, resid);

  auto ln1 = [&](const torch::Tensor& x) {
    return apply_norm(c.normalization, w.ln1, x, c.eps, hooks_, ids.ln1_scale, ids.ln1_normalized);
  };
  auto per_head = [&](const torch::Tensor& x, int64_t heads) { return x.unsqueeze(2).repeat({1, 1, heads, 1}); };
  AttentionInputs inputs;
  if (use_split_qkv_input_) {
    inputs.query = ln1(hooks_.run(ids.q_input, per_head(resid, c.n_heads)));
    inputs.key = ln1(hooks_.run(ids.k_input, per_head(resid, c.kv_heads())));
    inputs.value = ln1(hooks_.run(ids.v_input, per_head(resid, c.kv_heads())));
  } else if (use_attn_in_) {
    inputs.query = inputs.key = inputs.value = ln1(hooks_.run(ids.attn_in, per_head(resid, c.n_heads)));
  } else {
    inputs.query = inputs.key = inputs.value = ln1(resid);
  }
  auto attn_out = hooks_.run(ids.attn_out, attention_forward(c, layer, w.attn, inputs, ctx, hooks_, ids, kv,
                                                             use_attn_result_, query_positions));
  if (query_positions > 0) {  // from here on only the last query_positions positions
    const int64_t pos = resid.size(1);
    resid = resid.narrow(1, pos - query_positions, query_positions);
    inputs.query = inputs.query.narrow(1, pos - query_positions, query_positions);
  }

  if (!c.has_mlp()) return hooks_.run(ids.resid_post, resid + attn_out);

  auto mlp = [&](const torch::Tensor& mlp_in) {
    auto x = apply_norm(c.normalization, w.ln2, hooks_.run(ids.mlp_in, mlp_in), c.eps, hooks_, ids.ln2_scale,
                        ids.ln2_normalized);
    return hooks_.run(ids.mlp_out, mlp_forward(c, w.mlp, x, hooks_, ids));
  };
  if (c.parallel_shared_norm) {
    // One norm per block (StableLM 2 12B): the MLP reads ln1 of resid_pre too. Reuse the attention's normalized
    // input unless hook_mlp_in may change the MLP's input or the attention's inputs are per-head copies.
    torch::Tensor normalized = inputs.query;
    if (use_hook_mlp_in_ || use_split_qkv_input_ || use_attn_in_)
      normalized = apply_norm(c.normalization, w.ln1, hooks_.run(ids.mlp_in, resid), c.eps, hooks_, -1, -1);
    auto mlp_out = hooks_.run(ids.mlp_out, mlp_forward(c, w.mlp, normalized, hooks_, ids));
    return hooks_.run(ids.resid_post, resid + attn_out + mlp_out);
  }
  if (c.parallel_attn_mlp) return hooks_.run(ids.resid_post, resid + attn_out + mlp(resid));
  auto resid_mid = hooks_.run(ids.resid_mid, resid + attn_out);
  return hooks_.run(ids.resid_post, resid_mid + mlp(resid_mid));
}

torch::Tensor HookedTransformer::forward(const torch::Tensor& input, const ForwardOptions& options) {
  const auto& c = config_;
  const int start = options.start_at_layer;
  const int stop = options.stop_at_layer < 0 ? static_cast<int>(c.n_layers) : options.stop_at_layer;
  if (start < 0 || start > c.n_layers || stop > c.n_layers || stop < start)
    throw Error(fmt::format("start_at_layer {} / stop_at_layer {} are not layers 0..{} in order", start,
                            options.stop_at_layer, c.n_layers));
  KeyValueCache* kv = options.kv_cache;
  const int64_t past = kv ? kv->length() : 0;

  torch::Tensor tokens, resid;
  if (start == 0) {
    tokens = input.dim() == 1 ? input.unsqueeze(0) : input;
    check_tokens(tokens, past);
    tokens = tokens.to(device(), torch::kInt64);
  } else {
    if (input.dim() != 3 || input.size(2) != c.d_model)
      throw Error(
          fmt::format("with start_at_layer {} the input is the residual stream [batch, pos, d_model={}], "
                      "got shape {}",
                      start, c.d_model, input.sizes().vec()));
    resid = input.to(device());
  }
  const int64_t batch = input.dim() == 1 ? 1 : input.size(0);
  const int64_t pos = start == 0 ? tokens.size(1) : resid.size(1);

  torch::Tensor full_mask;
  const torch::Tensor& mask = options.attention_mask;
  if (mask.defined()) {
    if (mask.dim() != 2 || mask.size(0) != batch || mask.size(1) != pos)
      throw Error(fmt::format("attention_mask has shape {} but the input is [batch {}, pos {}]", mask.sizes().vec(),
                              batch, pos));
  }
  const bool past_masked = kv && kv->attention_mask.defined();
  if (mask.defined() || past_masked) {
    auto ones = [&](int64_t n) {
      return torch::ones({batch, n}, torch::TensorOptions().dtype(torch::kInt64).device(device()));
    };
    auto past_part = past_masked ? kv->attention_mask.to(device(), torch::kInt64) : ones(past);
    auto new_part = mask.defined() ? mask.to(device(), torch::kInt64) : ones(pos);
    full_mask = past ? torch::cat({past_part, new_part}, 1) : new_part;
  }
  if (kv && full_mask.defined()) kv->attention_mask = full_mask;

  auto ctx = make_attention_context(c, batch, pos, past, full_mask, device(), c.dtype);
  hooks_.set_position_offset(past);
  if (start == 0) resid = embed(tokens, ctx);
  const int64_t keep = options.last_block_query_positions;
  if (keep < 0 || keep > pos)
    throw Error(fmt::format("last_block_query_positions {} is not 0..{} (the positions of this forward)", keep, pos));
  for (int l = start; l < stop; ++l) resid = run_block(l, std::move(resid), ctx, kv, l == stop - 1 ? keep : 0);
  // stop_at_layer == n_layers returns the final residual stream (before ln_final), as in TransformerLens.
  if (options.stop_at_layer >= 0) return resid;
  return final_logits(resid);
}

torch::Tensor HookedTransformer::run_with_hooks(const torch::Tensor& input, const NamedHooks& forward_hooks,
                                                const ForwardOptions& options, const NamedHooks& backward_hooks) {
  std::vector<HookGuard> guards;
  guards.reserve(forward_hooks.size() + backward_hooks.size());
  for (const auto& [name, hook] : forward_hooks) guards.push_back(hooks_.add(name, hook, HookDirection::Forward));
  for (const auto& [name, hook] : backward_hooks) guards.push_back(hooks_.add(name, hook, HookDirection::Backward));
  return forward(input, options);
}

std::pair<torch::Tensor, ActivationCache> HookedTransformer::run_with_cache(const torch::Tensor& input,
                                                                            const NameFilter& names,
                                                                            const ForwardOptions& options,
                                                                            const CacheOptions& cache_options) {
  ActivationCache cache;
  auto guard = hooks_.add(names, [&cache, &cache_options](const torch::Tensor& t, const HookPoint& point) {
    torch::Tensor stored = cache_options.detach ? t.detach() : t;
    if (cache_options.device) stored = stored.to(*cache_options.device);
    if (cache_options.dtype && stored.is_floating_point()) stored = stored.to(*cache_options.dtype);
    cache.insert(point.name, std::move(stored));
  });
  auto out = forward(input, options);
  return {std::move(out), std::move(cache)};
}

HookGuard HookedTransformer::add_hook(const std::string& name, Hook hook, HookDirection direction) {
  return hooks_.add(name, std::move(hook), direction);
}

HookGuard HookedTransformer::add_hook(const NameFilter& names, Hook hook, HookDirection direction) {
  return hooks_.add(names, std::move(hook), direction);
}

const Tokenizer& HookedTransformer::tokenizer() const {
  if (!tokenizer_)
    throw Error(fmt::format("model {} has no tokenizer (its folder held no tokenizer files); pass token ids instead",
                            config_.model_name.empty() ? config_.family : config_.model_name));
  return *tokenizer_;
}

TokenBatch HookedTransformer::to_tokens(std::span<const std::string> texts, const ToTokensOptions& options) const {
  return arrakis::to_tokens(tokenizer(), texts, options);
}

TokenBatch HookedTransformer::to_tokens(std::span<const std::string> texts) const {
  ToTokensOptions options;
  options.prepend_bos = config_.default_prepend_bos;
  return to_tokens(texts, options);
}

torch::Tensor HookedTransformer::to_tokens(std::string_view text) const {
  ToTokensOptions options;
  options.prepend_bos = config_.default_prepend_bos;
  return arrakis::to_tokens(tokenizer(), text, options).input_ids;
}

std::string HookedTransformer::to_string(const torch::Tensor& ids) const {
  return arrakis::to_string(tokenizer(), ids);
}

std::vector<std::string> HookedTransformer::to_str_tokens(const torch::Tensor& ids) const {
  auto flat = ids.to(torch::kCPU, torch::kInt64).contiguous().view({-1});
  return arrakis::to_str_tokens(tokenizer(), std::span<const int64_t>(flat.data_ptr<int64_t>(), flat.numel()));
}

std::vector<std::string> HookedTransformer::to_str_tokens(std::string_view text) const {
  return arrakis::to_str_tokens(tokenizer(), text, config_.default_prepend_bos);
}

int64_t HookedTransformer::to_single_token(std::string_view text) const {
  return arrakis::to_single_token(tokenizer(), text);
}

torch::Tensor lm_loss(const torch::Tensor& logits, const torch::Tensor& tokens, const torch::Tensor& attention_mask,
                      bool per_token) {
  auto log_probs = torch::log_softmax(logits.index({Slice(), Slice(0, -1)}).to(torch::kFloat32), -1);
  auto targets = tokens.index({Slice(), Slice(1, torch::indexing::None)}).to(logits.device(), torch::kInt64);
  auto nll = -log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1);  // [batch, pos - 1]
  if (per_token) return nll;
  if (!attention_mask.defined()) return nll.mean();
  auto real = attention_mask.index({Slice(), Slice(1, torch::indexing::None)}).to(nll.device(), torch::kFloat32);
  return (nll * real).sum() / real.sum();
}

}  // namespace arrakis
