#pragma once
// HookedTransformer: the one transformer implementation. Every family runs on it (a ModelConfig plus weights in
// TransformerLens' layout); every intermediate activation passes through a named hook point.
#include <torch/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "arrakis/hooks/activation_cache.hpp"
#include "arrakis/hooks/hook_catalogue.hpp"
#include "arrakis/hooks/hook_registry.hpp"
#include "arrakis/model/config.hpp"
#include "arrakis/model/kv_cache.hpp"
#include "arrakis/model/weight_processing.hpp"
#include "arrakis/model/weights.hpp"
#include "arrakis/tokenizer/token_batch.hpp"
#include "arrakis/tokenizer/tokenizer.hpp"

namespace arrakis {

struct AttentionContext;

struct ForwardOptions {
  /// [batch, pos], 1 for real tokens, 0 for padding (left or right). Positions are counted over real tokens only,
  /// so each sequence of a padded batch gets the result it gets alone. Undefined: no padding.
  torch::Tensor attention_mask;
  /// When > 0 the input is the residual stream [batch, pos, d_model] entering this block, not tokens.
  int start_at_layer = 0;
  /// When >= 0, stop before this block and return the residual stream entering it [batch, pos, d_model]
  /// (n_layers: the final residual stream, before ln_final).
  int stop_at_layer = -1;
  /// Past keys and values (read, then extended with this forward's positions). Its attention mask covers the past
  /// positions; `attention_mask` above covers the new ones.
  KeyValueCache* kv_cache = nullptr;
  /// When > 0, the last block this forward runs computes its output only for the last N positions: the earlier ones
  /// contribute their keys and values, nothing else (what a metric of the last position needs from the last block).
  /// In that block the hook points from the queries on (hook_q, scores, pattern, z, result, attn_out, resid_mid, the
  /// MLP's, resid_post) hold those N positions, with HookPoint::position_offset counting from the first of them; the
  /// output holds N positions.
  int64_t last_block_query_positions = 0;
};

struct CacheOptions {
  bool detach = true;                   // store detached tensors (false: keep the autograd graph)
  std::optional<torch::Device> device;  // move cached tensors here (e.g. the CPU while the model runs on a GPU)
  std::optional<torch::Dtype> dtype;    // store floating activations in this dtype (e.g. half precision)
};

using NamedHooks = std::vector<std::pair<std::string, Hook>>;

class HookedTransformer {
 public:
  HookedTransformer(ModelConfig config, ModelWeights weights, std::shared_ptr<Tokenizer> tokenizer = nullptr);
  HookedTransformer(HookedTransformer&&) noexcept = default;
  HookedTransformer& operator=(HookedTransformer&&) noexcept = default;
  HookedTransformer(const HookedTransformer&) = delete;
  HookedTransformer& operator=(const HookedTransformer&) = delete;

  const ModelConfig& config() const { return config_; }
  ModelWeights& weights() { return weights_; }
  const ModelWeights& weights() const { return weights_; }
  torch::Device device() const { return weights_.W_E.device(); }
  /// Moves the weights (hooks stay registered).
  void to(torch::Device device);
  void to(torch::Dtype dtype);
  /// Rewrites the weights as TransformerLens' weight processing does (log-probabilities unchanged); reports what
  /// was applied and what does not apply to this model.
  WeightProcessingReport process_weights(const WeightProcessing& options);

  // ---- running --------------------------------------------------------------------------------------------------
  /// Logits [batch, pos, d_vocab_out] for tokens [batch, pos] (int64), or the residual stream (see ForwardOptions).
  torch::Tensor forward(const torch::Tensor& input, const ForwardOptions& options = {});
  torch::Tensor operator()(const torch::Tensor& input, const ForwardOptions& options = {}) {
    return forward(input, options);
  }
  /// A forward with these hooks added for its duration only.
  torch::Tensor run_with_hooks(const torch::Tensor& input, const NamedHooks& forward_hooks,
                               const ForwardOptions& options = {}, const NamedHooks& backward_hooks = {});
  /// A forward that also returns the activations at the hook points `names` selects (default: all).
  std::pair<torch::Tensor, ActivationCache> run_with_cache(const torch::Tensor& input, const NameFilter& names = {},
                                                           const ForwardOptions& options = {},
                                                           const CacheOptions& cache_options = {});

  /// The final normalization of a residual stream [..., d_model] (no hooks run), and the unembedding of its output:
  /// `unembed(ln_final(resid))` is what the forward does after the last block.
  torch::Tensor ln_final(const torch::Tensor& resid) const;
  torch::Tensor unembed(const torch::Tensor& normalized) const;

  // ---- hooks ----------------------------------------------------------------------------------------------------
  HookGuard add_hook(const std::string& name, Hook hook, HookDirection direction = HookDirection::Forward);
  HookGuard add_hook(const NameFilter& names, Hook hook, HookDirection direction = HookDirection::Forward);
  void reset_hooks() { hooks_.clear(); }
  HookRegistry& hooks() { return hooks_; }
  /// The enabled hook points, in forward order.
  std::vector<std::string> hook_names() const { return hooks_.names(); }

  /// Opt-in hook points, as in TransformerLens (they cost memory or a slower path, so they are off by default):
  /// `attn.hook_result` (per-head outputs [batch, pos, head, d_model]);
  void set_use_attn_result(bool on);
  /// `hook_q_input`, `hook_k_input`, `hook_v_input` (the residual stream as each of q, k, v reads it, per head:
  /// [batch, pos, head, d_model]) — what path patching into one head's queries needs;
  void set_use_split_qkv_input(bool on);
  /// `hook_attn_in` ([batch, pos, head, d_model]) — incompatible with split q/k/v inputs, as in TransformerLens;
  void set_use_attn_in(bool on);
  /// `hook_mlp_in` ([batch, pos, d_model]).
  void set_use_hook_mlp_in(bool on);
  bool use_attn_result() const { return use_attn_result_; }
  bool use_split_qkv_input() const { return use_split_qkv_input_; }

  // ---- tokens ---------------------------------------------------------------------------------------------------
  bool has_tokenizer() const { return tokenizer_ != nullptr; }
  /// The tokenizer; arrakis::Error when the model was loaded without one.
  const Tokenizer& tokenizer() const;
  void set_tokenizer(std::shared_ptr<Tokenizer> tokenizer) { tokenizer_ = std::move(tokenizer); }
  TokenBatch to_tokens(std::span<const std::string> texts, const ToTokensOptions& options) const;
  /// One text as [1, pos], BOS first when the model prepends one by default.
  torch::Tensor to_tokens(std::string_view text) const;
  TokenBatch to_tokens(std::span<const std::string> texts) const;
  std::string to_string(const torch::Tensor& ids) const;
  std::vector<std::string> to_str_tokens(const torch::Tensor& ids) const;
  std::vector<std::string> to_str_tokens(std::string_view text) const;
  int64_t to_single_token(std::string_view text) const;

 private:
  void declare_hook_points();
  void enable_opt_in(HookOptIn opt_in, bool on);
  torch::Tensor run_block(int layer, torch::Tensor resid, const AttentionContext& ctx, KeyValueCache* kv,
                          int64_t query_positions);
  torch::Tensor embed(const torch::Tensor& tokens, const AttentionContext& ctx);
  torch::Tensor final_logits(const torch::Tensor& resid);
  void check_tokens(const torch::Tensor& tokens, int64_t past) const;

  ModelConfig config_;
  ModelWeights weights_;
  std::shared_ptr<Tokenizer> tokenizer_;
  HookRegistry hooks_;
  std::vector<BlockHookIds> block_hooks_;
  int hook_embed_ = -1, hook_pos_embed_ = -1, hook_ln_final_scale_ = -1, hook_ln_final_normalized_ = -1;
  bool use_attn_result_ = false, use_split_qkv_input_ = false, use_attn_in_ = false, use_hook_mlp_in_ = false;
};

/// Mean next-token cross-entropy of logits [batch, pos, vocab] on tokens [batch, pos] (ignoring padded targets when
/// a mask is given); `per_token` returns [batch, pos - 1] instead.
torch::Tensor lm_loss(const torch::Tensor& logits, const torch::Tensor& tokens,
                      const torch::Tensor& attention_mask = {}, bool per_token = false);

}  // namespace arrakis
