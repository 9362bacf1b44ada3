#pragma once
// Residual-stream analysis on an ActivationCache (TransformerLens' ActivationCache methods, as free functions):
// the residual stream accumulated layer by layer, decomposed into what each component wrote, per head and per
// neuron, normalised as the final (or a block's) norm sees it, and projected on token directions.
//
// Stacks are [components, batch, pos, d_model] (no pos dimension when a PosSlice selects one position) with one
// label per component, as TransformerLens returns them with `return_labels=True`.
#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "arrakis/hooks/activation_cache.hpp"
#include "arrakis/model/hooked_transformer.hpp"

namespace arrakis {

/// Which positions a stack keeps (TransformerLens' `Slice`): all, one (the position dimension is dropped), a range
/// [start, stop) (negative values count from the end), or one per prompt (int64 [batch]; dropped, like one).
class PosSlice {
 public:
  PosSlice() = default;  // all positions
  static PosSlice at(int64_t position) { return PosSlice(Kind::One, position, 0); }
  static PosSlice range(int64_t start, int64_t stop) { return PosSlice(Kind::Range, start, stop); }
  static PosSlice per_prompt(torch::Tensor positions);
  bool drops_dimension() const { return kind_ == Kind::One || kind_ == Kind::PerPrompt; }
  bool is_all() const { return kind_ == Kind::All; }
  /// x with its position dimension `pos_dim` sliced; the batch dimension is the one before it (PerPrompt).
  torch::Tensor apply(const torch::Tensor& x, int64_t pos_dim) const;

 private:
  enum class Kind { All, One, Range, PerPrompt };
  PosSlice(Kind kind, int64_t a, int64_t b) : kind_(kind), a_(a), b_(b) {}
  Kind kind_ = Kind::All;
  int64_t a_ = 0, b_ = 0;
  torch::Tensor positions_;
};

/// How a stack is normalised (the models here keep norm weights unfolded; see docs/analysis.md).
enum class ApplyLn {
  None,
  /// TransformerLens' apply_ln_to_stack: centre each component (LayerNorm) and divide it by the cached scale of
  /// the norm the stack feeds (ln_final, or ln1/ln2 of `layer`). Linear, so normalised components still sum to the
  /// normalised total: right for decompositions.
  CachedScale,
  /// Centre each component and divide it by its own scale sqrt(mean(x²) + eps): what the norm does to it alone. Right
  /// for accumulated residual streams (the logit lens), where TransformerLens' cached-scale version divides every
  /// layer's stream by the final layer's scale.
  Recompute,
};

struct ResidualStack {
  torch::Tensor components;         // [n, batch, pos, d_model] (or [n, batch, d_model])
  std::vector<std::string> labels;  // one per component
};

/// Where a stack ends and what it keeps, options every stack takes (TransformerLens' keyword arguments, by name).
struct AccumulatedResidOptions {
  int layer = -1;         // stop at this layer's input (-1 / n_layers: include the final resid_post)
  bool incl_mid = false;  // also each block's resid_mid
  PosSlice pos_slice = {};
  ApplyLn apply_ln = ApplyLn::None;
  bool mlp_input = false;  // end at `layer`'s MLP input (its resid_mid) instead of its attention input
};

/// The residual stream at each layer boundary up to `layer` (TransformerLens' accumulated_resid): labels "0_pre",
/// ("0_mid",) "1_pre", ..., and "final_post" when `layer` is n_layers (or -1, the default). `layer` L < n_layers
/// stops at L's resid_pre (plus L's resid_mid with `mlp_input`). `apply_ln` defaults to None (the streams as
/// cached); Recompute normalises each by its own statistics, CachedScale reproduces TransformerLens.
ResidualStack accumulated_resid(const HookedTransformer& model, const ActivationCache& cache,
                                const AccumulatedResidOptions& options = {});

enum class ResidMode { All, Attn, Mlp };

struct DecomposeResidOptions {
  int layer = -1;                   // decompose the stream entering this layer (-1: the final resid_post)
  bool mlp_input = false;           // ... entering its MLP (resid_mid) instead
  ResidMode mode = ResidMode::All;  // attention outputs, MLP outputs, or both
  bool incl_embeds = true;          // "embed" and "pos_embed"
  PosSlice pos_slice = {};
  ApplyLn apply_ln = ApplyLn::None;
};

/// What each layer wrote: "embed", "pos_embed", "L_attn_out", "L_mlp_out" for the layers before `layer` (plus
/// `layer`'s attention with `mlp_input`). The components sum to resid_pre of `layer` (resid_mid with mlp_input;
/// the last resid_post for -1).
ResidualStack decompose_resid(const HookedTransformer& model, const ActivationCache& cache,
                              const DecomposeResidOptions& options = {});

struct StackResultsOptions {
  int layer = -1;               // the layers before this one (-1: every layer)
  bool incl_remainder = false;  // add "remainder" = the residual stream minus the stacked components
  PosSlice pos_slice = {};
  ApplyLn apply_ln = ApplyLn::None;
  bool mlp_input = false;  // end at `layer`'s MLP input (heads: `layer`'s own heads included)
};

/// Per-head outputs z_h W_O[h] of every layer before `layer` ("L{l}H{h}"), from `attn.hook_result` when cached,
/// otherwise from `attn.hook_z` and W_O. The remainder holds embeddings, biases and MLPs.
ResidualStack stack_head_results(const HookedTransformer& model, const ActivationCache& cache,
                                 const StackResultsOptions& options = {});

/// Per-neuron outputs post[n] W_out[n] of every MLP before `layer` ("L{l}N{n}"), without b_out; optional remainder.
/// [layers * d_mlp, ...]: large for big models — direct_logit_attribution projects neurons without materialising it.
ResidualStack stack_neuron_results(const HookedTransformer& model, const ActivationCache& cache,
                                   const StackResultsOptions& options = {});

struct FullDecompositionOptions {
  int layer = -1;
  bool mlp_input = false;
  bool expand_neurons = true;  // every neuron; false: each layer's mlp_out
  PosSlice pos_slice = {};
  ApplyLn apply_ln = ApplyLn::None;
};

/// Every head, every neuron (or each layer's mlp_out when !expand_neurons), "embed", "pos_embed" and "bias" (the
/// sum of the b_O — and, with expanded neurons, b_out — biases): they sum to the residual stream at `layer`.
ResidualStack get_full_resid_decomposition(const HookedTransformer& model, const ActivationCache& cache,
                                           const FullDecompositionOptions& options = {});

struct ApplyLnOptions {
  int layer = -1;           // the norm reading the stream at this layer (-1 / n_layers: ln_final)
  bool mlp_input = false;   // ln2 instead of ln1 of `layer`
  PosSlice pos_slice = {};  // the slice the stack was made with (to slice the cached scale alike)
  ApplyLn mode = ApplyLn::CachedScale;
};

/// TransformerLens' apply_ln_to_stack: `stack` [n, batch, pos, d] (or [n, batch, d] with a position-dropping
/// slice) centred (LayerNorm) and divided by the cached scale of the norm reading the stream at `layer`; Recompute
/// divides by each component's own scale. A no-op for models without normalisation. No weight or bias is applied
/// (they act on the direction: see tokens_to_residual_directions).
torch::Tensor apply_ln_to_stack(const HookedTransformer& model, const ActivationCache& cache,
                                const torch::Tensor& stack, const ApplyLnOptions& options = {});

/// The residual-stream direction of each token's logit [..., d_model]: W_U[:, token] times the final norm's gain
/// (w, or 1 + w for Gemma's norm). TransformerLens folds that gain into W_U when loading; Arrakis keeps weights as
/// the checkpoint has them, so the gain is applied here. Then for any residual stream x:
///   logit(token) = (normalised x) · direction + (ln_final bias) · W_U[:, token] + b_U[token].
torch::Tensor tokens_to_residual_directions(const HookedTransformer& model, const torch::Tensor& tokens);

/// The contribution of each component of an (unnormalised) stack to logit(answer) - logit(wrong) (or to the logit
/// of `answer` when `wrong` is undefined): (apply_ln_to_stack(stack) · direction). `answer`/`wrong` are int64
/// scalars or [batch]. Returns [n, batch, pos] or [n, batch]. Over a full decomposition at the final layer the
/// attributions sum to the logit difference minus final_bias_logit_diff (the constant the norm's bias and b_U add).
struct LogitAttrsOptions {
  torch::Tensor wrong;      // int64 scalar or [batch]; undefined: attribute the logit of `answer` alone
  PosSlice pos_slice = {};  // the slice the stack was made with
};
torch::Tensor logit_attrs(const HookedTransformer& model, const ActivationCache& cache, const torch::Tensor& stack,
                          const torch::Tensor& answer, const LogitAttrsOptions& options = {});

/// ln_final.b · (W_U[:, answer] - W_U[:, wrong]) + b_U[answer] - b_U[wrong] (scalar or [batch]): the part of a
/// logit difference no residual-stream component writes.
torch::Tensor final_bias_logit_diff(const HookedTransformer& model, const torch::Tensor& answer,
                                    const torch::Tensor& wrong = {});

}  // namespace arrakis
