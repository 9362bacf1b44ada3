#include "arrakis/analysis/residual_stream.hpp"

#include <fmt/format.h>

#include "arrakis/error.hpp"
#include "arrakis/hooks/hook_catalogue.hpp"
#include "arrakis/model/head.hpp"
#include "arrakis/model/norm_semantics.hpp"

namespace arrakis {
namespace {

int resolve_layer(const HookedTransformer& model, int layer, const char* function) {
  const int n = static_cast<int>(model.config().n_layers);
  if (layer == -1) return n;
  if (layer < 0 || layer > n)
    throw Error(fmt::format("{}: layer {} is not -1 or 0..{} (n_layers)", function, layer, n));
  return layer;
}

bool has_resid_mid(const ModelConfig& c) { return model_has(c, HookKind::ResidMid); }

void check_mlp_input(const HookedTransformer& model, int layer, bool mlp_input, const char* function) {
  if (!mlp_input) return;
  if (!has_resid_mid(model.config()))
    throw Error(fmt::format("{}: mlp_input needs a model whose MLP reads resid_mid (this one {})", function,
                            model.config().has_mlp() ? "runs attention and MLP in parallel" : "has no MLP"));
  if (layer >= model.config().n_layers)
    throw Error(fmt::format("{}: mlp_input needs a block's layer (0..{}), not the final stream", function,
                            model.config().n_layers - 1));
}

// The residual stream a stack ending at `layer` decomposes.
torch::Tensor resid_at(const HookedTransformer& model, const ActivationCache& cache, int layer, bool mlp_input) {
  if (layer == model.config().n_layers) return cache.at("resid_post", layer - 1);
  return mlp_input ? cache.at("resid_mid", layer) : cache.at("resid_pre", layer);
}

// The gain the final norm multiplies the normalised stream by, or undefined when there is none.
torch::Tensor final_norm_gain(const HookedTransformer& model) {
  return norm_gain(model.config().normalization, model.weights().ln_final);
}

bool centres(NormType type) { return norm_semantics(type).centres; }

// Heads of one layer as [heads, batch, (pos), d_model].
torch::Tensor head_results(const HookedTransformer& model, const ActivationCache& cache, int l,
                           const PosSlice& pos_slice) {
  auto result_name = act_name("result", l);
  if (cache.contains(result_name)) return pos_slice.apply(cache[result_name].movedim(2, 0), 2);
  if (!cache.contains(act_name("z", l)))
    throw Error(fmt::format("per-head results need '{}' or '{}' in the cache", result_name, act_name("z", l)));
  auto z = pos_slice.apply(cache.at("z", l).movedim(2, 0), 2);  // [heads, batch, (pos), d_head]
  const auto& W_O = model.weights().blocks[l].attn.W_O;         // [heads, d_head, d_model]
  auto shape = z.sizes().vec();
  shape.back() = W_O.size(2);
  return z.reshape({z.size(0), -1, z.size(-1)}).bmm(W_O.to(z.device(), z.scalar_type())).reshape(shape);
}

// Neurons of one layer as [d_mlp, batch, (pos), d_model], without b_out.
torch::Tensor neuron_results(const HookedTransformer& model, const ActivationCache& cache, int l,
                             const PosSlice& pos_slice) {
  auto post = pos_slice.apply(cache.at("post", l), 1).movedim(-1, 0);                      // [d_mlp, batch, (pos)]
  auto W_out = model.weights().blocks[l].mlp.W_out.to(post.device(), post.scalar_type());  // [d_mlp, d_model]
  std::vector<int64_t> shape(post.dim() + 1, 1);
  shape.front() = W_out.size(0);
  shape.back() = W_out.size(1);
  return post.unsqueeze(-1) * W_out.reshape(shape);
}

ResidualStack finish(const HookedTransformer& model, const ActivationCache& cache, std::vector<torch::Tensor> parts,
                     std::vector<std::string> labels, int layer, bool mlp_input, const PosSlice& pos_slice,
                     ApplyLn apply_ln, const char* function) {
  if (parts.empty()) throw Error(fmt::format("{}: no components before layer {}", function, layer));
  auto stack = torch::cat(parts, 0);
  if (apply_ln != ApplyLn::None)
    stack = apply_ln_to_stack(model, cache, stack,
                              {.layer = layer, .mlp_input = mlp_input, .pos_slice = pos_slice, .mode = apply_ln});
  return {stack, std::move(labels)};
}

/// The residual stream minus the components in `parts`, as one more component labelled "remainder".
void append_remainder(const HookedTransformer& model, const ActivationCache& cache, int layer, bool mlp_input,
                      const PosSlice& pos_slice, std::vector<torch::Tensor>& parts, std::vector<std::string>& labels) {
  auto resid = pos_slice.apply(resid_at(model, cache, layer, mlp_input), 1);
  auto components = parts.empty() ? torch::zeros_like(resid) : torch::cat(parts, 0).sum(0);
  parts.push_back((resid - components).unsqueeze(0));
  labels.emplace_back("remainder");
}

}  // namespace

PosSlice PosSlice::per_prompt(torch::Tensor positions) {
  if (positions.dim() != 1) throw Error("PosSlice::per_prompt: positions must be int64 [batch]");
  PosSlice s(Kind::PerPrompt, 0, 0);
  s.positions_ = positions.to(torch::kInt64);
  return s;
}

torch::Tensor PosSlice::apply(const torch::Tensor& x, int64_t pos_dim) const {
  const int64_t pos = x.size(pos_dim);
  auto wrap = [pos](int64_t p) { return p < 0 ? p + pos : p; };
  switch (kind_) {
    case Kind::All: return x;
    case Kind::One: {
      int64_t p = wrap(a_);
      if (p < 0 || p >= pos) throw Error(fmt::format("position {} is outside the {} positions", a_, pos));
      return x.select(pos_dim, p);
    }
    case Kind::Range: {
      int64_t start = std::clamp<int64_t>(wrap(a_), 0, pos), stop = std::clamp<int64_t>(wrap(b_), 0, pos);
      if (stop <= start) throw Error(fmt::format("positions [{}, {}) select none of the {} positions", a_, b_, pos));
      return x.narrow(pos_dim, start, stop - start);
    }
    case Kind::PerPrompt: {
      const int64_t batch_dim = pos_dim - 1;
      if (batch_dim < 0 || x.size(batch_dim) != positions_.size(0))
        throw Error(fmt::format("per-prompt positions are for {} prompts, the tensor has {} at dimension {}",
                                positions_.size(0), batch_dim < 0 ? 0 : x.size(batch_dim), batch_dim));
      auto idx = positions_.to(x.device());
      idx = torch::where(idx < 0, idx + pos, idx);
      if (idx.numel() > 0 && (idx.min().item<int64_t>() < 0 || idx.max().item<int64_t>() >= pos))
        throw Error(fmt::format("a per-prompt position is outside the {} positions", pos));
      auto front = x.movedim({batch_dim, pos_dim}, {0, 1});
      return front.index({torch::arange(idx.size(0), idx.options()), idx}).movedim(0, batch_dim);
    }
  }
  return x;
}

torch::Tensor apply_ln_to_stack(const HookedTransformer& model, const ActivationCache& cache,
                                const torch::Tensor& stack, const ApplyLnOptions& options) {
  const auto& c = model.config();
  int layer = options.layer;
  const bool mlp_input = options.mlp_input;
  const PosSlice& pos_slice = options.pos_slice;
  const ApplyLn mode = options.mode;
  if (c.normalization == NormType::None || mode == ApplyLn::None) return stack;
  layer = resolve_layer(model, layer, "apply_ln_to_stack");
  auto x = centres(c.normalization) ? stack - stack.mean(-1, /*keepdim=*/true) : stack;
  if (mode == ApplyLn::Recompute) return x / (x.pow(2).mean(-1, /*keepdim=*/true) + c.eps).sqrt();
  std::string name;
  if (layer == c.n_layers) {
    name = hook_name(HookKind::LnFinalScale);
  } else {
    check_mlp_input(model, layer, mlp_input, "apply_ln_to_stack");
    name = act_name("scale", layer, mlp_input ? "ln2" : "ln1");
  }
  if (!cache.contains(name))
    throw Error(fmt::format("apply_ln_to_stack: the cache holds no '{}' (cache it, or use ApplyLn::Recompute)", name));
  auto scale = pos_slice.apply(cache[name], 1);  // [batch, (pos), 1]
  if (scale.dim() + 1 != stack.dim())
    throw Error(
        fmt::format("apply_ln_to_stack: a stack of {} dimensions does not match the scale '{}' sliced to {} "
                    "(use the pos_slice the stack was made with)",
                    stack.dim(), name, scale.dim()));
  return x / scale;
}

ResidualStack accumulated_resid(const HookedTransformer& model, const ActivationCache& cache,
                                const AccumulatedResidOptions& options) {
  const auto& c = model.config();
  int layer = options.layer;
  const bool incl_mid = options.incl_mid, mlp_input = options.mlp_input;
  const PosSlice& pos_slice = options.pos_slice;
  const ApplyLn apply_ln = options.apply_ln;
  layer = resolve_layer(model, layer, "accumulated_resid");
  check_mlp_input(model, layer, mlp_input, "accumulated_resid");
  std::vector<torch::Tensor> parts;
  std::vector<std::string> labels;
  auto add = [&](const torch::Tensor& x, std::string label) {
    parts.push_back(pos_slice.apply(x, 1).unsqueeze(0));
    labels.push_back(std::move(label));
  };
  for (int l = 0; l <= layer; ++l) {
    if (l == c.n_layers) {
      add(cache.at("resid_post", l - 1), "final_post");
      break;
    }
    add(cache.at("resid_pre", l), fmt::format("{}_pre", l));
    if (has_resid_mid(c) && ((incl_mid && l < layer) || (mlp_input && l == layer)))
      add(cache.at("resid_mid", l), fmt::format("{}_mid", l));
  }
  return finish(model, cache, std::move(parts), std::move(labels), layer, mlp_input, pos_slice, apply_ln,
                "accumulated_resid");
}

ResidualStack decompose_resid(const HookedTransformer& model, const ActivationCache& cache,
                              const DecomposeResidOptions& options) {
  const auto& c = model.config();
  int layer = options.layer;
  const bool mlp_input = options.mlp_input, incl_embeds = options.incl_embeds;
  const ResidMode mode = options.mode;
  const PosSlice& pos_slice = options.pos_slice;
  const ApplyLn apply_ln = options.apply_ln;
  layer = resolve_layer(model, layer, "decompose_resid");
  check_mlp_input(model, layer, mlp_input, "decompose_resid");
  const bool attn = mode != ResidMode::Mlp, mlp = mode != ResidMode::Attn && c.has_mlp();
  std::vector<torch::Tensor> parts;
  std::vector<std::string> labels;
  auto add = [&](const torch::Tensor& x, std::string label) {
    parts.push_back(pos_slice.apply(x, 1).unsqueeze(0));
    labels.push_back(std::move(label));
  };
  if (incl_embeds) {
    add(cache[hook_name(HookKind::Embed)], "embed");
    if (c.positional_embedding == PositionalEmbedding::Learned) add(cache[hook_name(HookKind::PosEmbed)], "pos_embed");
  }
  for (int l = 0; l < layer; ++l) {
    if (attn) add(cache.at("attn_out", l), fmt::format("{}_attn_out", l));
    if (mlp) add(cache.at("mlp_out", l), fmt::format("{}_mlp_out", l));
  }
  if (mlp_input && attn) add(cache.at("attn_out", layer), fmt::format("{}_attn_out", layer));
  return finish(model, cache, std::move(parts), std::move(labels), layer, mlp_input, pos_slice, apply_ln,
                "decompose_resid");
}

ResidualStack stack_head_results(const HookedTransformer& model, const ActivationCache& cache,
                                 const StackResultsOptions& options) {
  const auto& c = model.config();
  int layer = options.layer;
  const bool incl_remainder = options.incl_remainder, mlp_input = options.mlp_input;
  const PosSlice& pos_slice = options.pos_slice;
  const ApplyLn apply_ln = options.apply_ln;
  layer = resolve_layer(model, layer, "stack_head_results");
  check_mlp_input(model, layer, mlp_input, "stack_head_results");
  std::vector<torch::Tensor> parts;
  std::vector<std::string> labels;
  const int last = mlp_input ? layer + 1 : layer;  // at resid_mid, layer's own heads have written too
  for (int l = 0; l < last; ++l) {
    parts.push_back(head_results(model, cache, l, pos_slice));
    for (int h = 0; h < c.n_heads; ++h) labels.push_back(Head{l, h}.label());
  }
  if (incl_remainder) append_remainder(model, cache, layer, mlp_input, pos_slice, parts, labels);
  return finish(model, cache, std::move(parts), std::move(labels), layer, mlp_input, pos_slice, apply_ln,
                "stack_head_results");
}

ResidualStack stack_neuron_results(const HookedTransformer& model, const ActivationCache& cache,
                                   const StackResultsOptions& options) {
  const auto& c = model.config();
  int layer = options.layer;
  const bool incl_remainder = options.incl_remainder, mlp_input = options.mlp_input;
  const PosSlice& pos_slice = options.pos_slice;
  const ApplyLn apply_ln = options.apply_ln;
  layer = resolve_layer(model, layer, "stack_neuron_results");
  check_mlp_input(model, layer, mlp_input, "stack_neuron_results");
  if (!c.has_mlp()) throw Error("stack_neuron_results: the model has no MLP neurons (attention-only)");
  std::vector<torch::Tensor> parts;
  std::vector<std::string> labels;
  for (int l = 0; l < layer; ++l) {
    parts.push_back(neuron_results(model, cache, l, pos_slice));
    for (int n = 0; n < c.d_mlp; ++n) labels.push_back(fmt::format("L{}N{}", l, n));
  }
  if (incl_remainder) append_remainder(model, cache, layer, mlp_input, pos_slice, parts, labels);
  return finish(model, cache, std::move(parts), std::move(labels), layer, mlp_input, pos_slice, apply_ln,
                "stack_neuron_results");
}

ResidualStack get_full_resid_decomposition(const HookedTransformer& model, const ActivationCache& cache,
                                           const FullDecompositionOptions& options) {
  const auto& c = model.config();
  int layer = options.layer;
  const bool mlp_input = options.mlp_input, expand_neurons = options.expand_neurons;
  const PosSlice& pos_slice = options.pos_slice;
  const ApplyLn apply_ln = options.apply_ln;
  layer = resolve_layer(model, layer, "get_full_resid_decomposition");
  check_mlp_input(model, layer, mlp_input, "get_full_resid_decomposition");
  auto heads = stack_head_results(model, cache, {.layer = layer, .pos_slice = pos_slice, .mlp_input = mlp_input});
  std::vector<torch::Tensor> parts{heads.components};
  auto labels = std::move(heads.labels);
  if (c.has_mlp() && layer > 0) {
    auto mlps = expand_neurons ? stack_neuron_results(model, cache,
                                                      {.layer = layer, .pos_slice = pos_slice, .mlp_input = mlp_input})
                               : decompose_resid(model, cache,
                                                 {.layer = layer,
                                                  .mlp_input = mlp_input,
                                                  .mode = ResidMode::Mlp,
                                                  .incl_embeds = false,
                                                  .pos_slice = pos_slice});
    parts.push_back(mlps.components);
    labels.insert(labels.end(), mlps.labels.begin(), mlps.labels.end());
  }
  auto embed = pos_slice.apply(cache[hook_name(HookKind::Embed)], 1);
  parts.push_back(embed.unsqueeze(0));
  labels.emplace_back("embed");
  if (c.positional_embedding == PositionalEmbedding::Learned) {
    parts.push_back(pos_slice.apply(cache[hook_name(HookKind::PosEmbed)], 1).unsqueeze(0));
    labels.emplace_back("pos_embed");
  }
  // The biases every block added: b_O of each attention that ran, b_out of each MLP when neurons are expanded
  // (an unexpanded mlp_out already holds it).
  auto bias = torch::zeros({c.d_model}, embed.options());
  const int attn_layers = mlp_input ? layer + 1 : layer;
  for (int l = 0; l < attn_layers; ++l) {
    const auto& b_O = model.weights().blocks[l].attn.b_O;
    if (b_O.defined()) bias = bias + b_O.to(bias.device(), bias.scalar_type());
    const auto& b_out = model.weights().blocks[l].mlp.b_out;
    if (expand_neurons && c.has_mlp() && l < layer && b_out.defined())
      bias = bias + b_out.to(bias.device(), bias.scalar_type());
  }
  parts.push_back(bias.expand_as(embed).unsqueeze(0));
  labels.emplace_back("bias");
  return finish(model, cache, std::move(parts), std::move(labels), layer, mlp_input, pos_slice, apply_ln,
                "get_full_resid_decomposition");
}

torch::Tensor tokens_to_residual_directions(const HookedTransformer& model, const torch::Tensor& tokens) {
  const auto& W_U = model.weights().W_U;  // [d_model, d_vocab_out]
  auto ids = tokens.to(W_U.device(), torch::kInt64);
  if (ids.numel() > 0 && (ids.min().item<int64_t>() < 0 || ids.max().item<int64_t>() >= W_U.size(1)))
    throw Error(
        fmt::format("tokens_to_residual_directions: a token id is outside the unembedding (size {})", W_U.size(1)));
  auto directions = W_U.index_select(1, ids.reshape({-1})).t();  // [n, d_model]
  if (auto gain = final_norm_gain(model); gain.defined()) directions = directions * gain;
  auto shape = ids.sizes().vec();
  shape.push_back(W_U.size(0));
  return directions.reshape(shape);
}

torch::Tensor logit_attrs(const HookedTransformer& model, const ActivationCache& cache, const torch::Tensor& stack,
                          const torch::Tensor& answer, const LogitAttrsOptions& options) {
  const torch::Tensor& wrong = options.wrong;
  const PosSlice& pos_slice = options.pos_slice;
  auto directions = tokens_to_residual_directions(model, answer);
  if (wrong.defined()) directions = directions - tokens_to_residual_directions(model, wrong);
  auto scaled = apply_ln_to_stack(model, cache, stack, {.pos_slice = pos_slice, .mode = ApplyLn::CachedScale});
  directions = directions.to(scaled.device(), scaled.scalar_type());
  if (directions.dim() == 2) {  // one direction per prompt: [batch, d_model] against [n, batch, (pos), d_model]
    if (scaled.dim() < 3 || scaled.size(1) != directions.size(0))
      throw Error(fmt::format("logit_attrs: {} per-prompt tokens for a stack of {} prompts", directions.size(0),
                              scaled.dim() < 3 ? 0 : scaled.size(1)));
    if (scaled.dim() == 4) directions = directions.unsqueeze(1);
  } else if (directions.dim() != 1) {
    throw Error("logit_attrs: tokens must be a scalar or [batch]");
  }
  return (scaled * directions).sum(-1);
}

torch::Tensor final_bias_logit_diff(const HookedTransformer& model, const torch::Tensor& answer,
                                    const torch::Tensor& wrong) {
  const auto& w = model.weights();
  auto ids = answer.to(w.W_U.device(), torch::kInt64);
  auto value = torch::zeros(ids.sizes(), w.W_U.options());
  auto add_token = [&](const torch::Tensor& tokens, double sign) {
    auto t = tokens.to(w.W_U.device(), torch::kInt64);
    const auto& b = w.ln_final.b;
    if (norm_semantics(model.config().normalization).bias && b.defined())
      value = value + sign * torch::matmul(w.W_U.index_select(1, t.reshape({-1})).t(), b).reshape(t.sizes());
    if (w.b_U.defined()) value = value + sign * w.b_U.index_select(0, t.reshape({-1})).reshape(t.sizes());
  };
  add_token(answer, 1.0);
  if (wrong.defined()) add_token(wrong, -1.0);
  return value;
}

}  // namespace arrakis
