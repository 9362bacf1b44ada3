#include "arrakis/model/weights.hpp"

#include "arrakis/model/norm_semantics.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "arrakis/error.hpp"
#include "arrakis/util/seeded_generator.hpp"

namespace arrakis {
namespace {

// Applies `fn(name, tensor&)` to every parameter slot (defined or not) under its TransformerLens name.
template <class Weights, class Fn>
void for_each_slot(Weights& w, Fn&& fn) {
  fn("embed.W_E", w.W_E);
  fn("pos_embed.W_pos", w.W_pos);
  for (std::size_t l = 0; l < w.blocks.size(); ++l) {
    auto& b = w.blocks[l];
    auto name = [&](const char* part) { return fmt::format("blocks.{}.{}", l, part); };
    fn(name("ln1.w"), b.ln1.w);
    fn(name("ln1.b"), b.ln1.b);
    fn(name("attn.W_Q"), b.attn.W_Q);
    fn(name("attn.W_K"), b.attn.W_K);
    fn(name("attn.W_V"), b.attn.W_V);
    fn(name("attn.W_O"), b.attn.W_O);
    fn(name("attn.b_Q"), b.attn.b_Q);
    fn(name("attn.b_K"), b.attn.b_K);
    fn(name("attn.b_V"), b.attn.b_V);
    fn(name("attn.b_O"), b.attn.b_O);
    fn(name("attn.q_norm.w"), b.attn.q_norm.w);
    fn(name("attn.q_norm.b"), b.attn.q_norm.b);
    fn(name("attn.k_norm.w"), b.attn.k_norm.w);
    fn(name("attn.k_norm.b"), b.attn.k_norm.b);
    fn(name("ln2.w"), b.ln2.w);
    fn(name("ln2.b"), b.ln2.b);
    fn(name("mlp.W_in"), b.mlp.W_in);
    fn(name("mlp.b_in"), b.mlp.b_in);
    fn(name("mlp.W_gate"), b.mlp.W_gate);
    fn(name("mlp.W_out"), b.mlp.W_out);
    fn(name("mlp.b_out"), b.mlp.b_out);
  }
  fn(std::string("ln_final.w"), w.ln_final.w);
  fn(std::string("ln_final.b"), w.ln_final.b);
  fn(std::string("unembed.W_U"), w.W_U);
  fn(std::string("unembed.b_U"), w.b_U);
}

// The shape each slot must have for `c`; empty optional = the slot must be undefined.
std::optional<std::vector<int64_t>> expected_shape(const std::string& name, const ModelConfig& c) {
  using Shape = std::vector<int64_t>;
  const int64_t d = c.d_model, h = c.n_heads, kv = c.kv_heads(), e = c.d_head, m = c.d_mlp;
  auto has_w = [](NormType t) { return norm_semantics(t).gain != NormGain::None; };
  auto ends = [&](const char* s) { return name.ends_with(s); };
  if (name.find("attn.q_norm.") != std::string::npos || name.find("attn.k_norm.") != std::string::npos) {
    const int64_t heads = name.find("attn.q_norm.") != std::string::npos ? h : kv;
    if (ends(".w")) return has_w(c.qk_norm) ? std::optional(Shape{heads, e}) : std::nullopt;
    return std::nullopt;  // per-head norms have no bias (StableLM's LayerNorms are bias-free)
  }
  if (name == "embed.W_E") return Shape{c.d_vocab, d};
  if (name == "pos_embed.W_pos")
    return c.positional_embedding == PositionalEmbedding::Learned ? std::optional(Shape{c.n_ctx, d}) : std::nullopt;
  if (name == "unembed.W_U") return Shape{d, c.vocab_out()};
  if (name == "unembed.b_U") return Shape{c.vocab_out()};
  const bool is_ln2 = name.find(".ln2.") != std::string::npos;
  if (ends(".w") || ends(".b")) {
    if (is_ln2 && (!c.has_mlp() || c.parallel_shared_norm)) return std::nullopt;
    if (ends(".w")) return has_w(c.normalization) ? std::optional(Shape{d}) : std::nullopt;
    return norm_semantics(c.normalization).bias ? std::optional(Shape{d}) : std::nullopt;
  }
  if (ends("attn.W_Q")) return Shape{h, d, e};
  if (ends("attn.W_K") || ends("attn.W_V")) return Shape{kv, d, e};
  if (ends("attn.W_O")) return Shape{h, e, d};
  if (ends("attn.b_Q")) return Shape{h, e};
  if (ends("attn.b_K") || ends("attn.b_V")) return Shape{kv, e};
  if (ends("attn.b_O")) return Shape{d};
  if (!c.has_mlp()) return std::nullopt;
  if (ends("mlp.W_in")) return Shape{d, m};
  if (ends("mlp.b_in")) return Shape{m};
  if (ends("mlp.W_gate")) return c.gated_mlp ? std::optional(Shape{d, m}) : std::nullopt;
  if (ends("mlp.W_out")) return Shape{m, d};
  if (ends("mlp.b_out")) return Shape{d};
  return std::nullopt;
}

bool optional_slot(const std::string& name) { return name == "unembed.b_U"; }

bool has_unit_stride(const torch::Tensor& m) { return m.stride(-1) == 1 || m.stride(-2) == 1; }

bool is_tied(const torch::Tensor& W_E, const torch::Tensor& W_U) {
  return W_E.defined() && W_U.defined() && W_U.data_ptr() == W_E.data_ptr() && W_U.dim() == 2 &&
         W_U.stride(0) == W_E.stride(1) && W_U.stride(1) == W_E.stride(0);
}

}  // namespace

NamedTensors ModelWeights::named_parameters(const ModelConfig& config) const {
  NamedTensors out;
  const bool tied = is_tied(W_E, W_U);
  for_each_slot(*this, [&](const std::string& name, const torch::Tensor& t) {
    if (!t.defined() || (tied && name == "unembed.W_U")) return;
    out.emplace_back(name, t);
  });
  return out;
}

ModelWeights ModelWeights::zeros(const ModelConfig& config) {
  ModelWeights w;
  w.blocks.resize(config.n_layers);
  auto options = torch::TensorOptions().dtype(config.dtype);
  for_each_slot(w, [&](const std::string& name, torch::Tensor& t) {
    if (auto shape = expected_shape(name, config)) {
      // Norm weights start where the norm is the plain normalization (1, or 0 for Gemma's 1 + w).
      const bool residual_norm = name.ends_with("ln1.w") || name.ends_with("ln2.w") || name == "ln_final.w";
      const bool head_norm = name.ends_with("q_norm.w") || name.ends_with("k_norm.w");
      double start = 0.0;
      if (residual_norm) start = identity_norm_weight(config.normalization);
      if (head_norm) start = identity_norm_weight(config.qk_norm);
      t = torch::full(*shape, start, options);
    }
  });
  if (config.tie_word_embeddings) w.W_U = w.W_E.t();
  w.canonicalize_layout();
  return w;
}

ModelWeights ModelWeights::random(const ModelConfig& config, uint64_t seed, double init_range) {
  ModelWeights w = zeros(config);
  auto generator = seeded_generator(seed);
  torch::NoGradGuard no_grad;
  for_each_slot(w, [&](const std::string& name, torch::Tensor& t) {
    if (!t.defined() || t.dim() < 2 || (config.tie_word_embeddings && name == "unembed.W_U")) return;
    // Normal in float32 on the CPU from our own generator, so a seed gives the same weights everywhere.
    auto values = at::normal(0.0, init_range, t.sizes(), generator, torch::TensorOptions().dtype(torch::kFloat32));
    t.copy_(values);
  });
  return w;
}

void ModelWeights::validate(const ModelConfig& config) const {
  if (static_cast<int64_t>(blocks.size()) != config.n_layers)
    throw Error(fmt::format("weights have {} blocks but the config has {} layers", blocks.size(), config.n_layers));
  for_each_slot(*this, [&](const std::string& name, const torch::Tensor& t) {
    auto shape = expected_shape(name, config);
    if (!shape) {
      if (t.defined())
        throw Error(fmt::format("weight '{}' is set but this model ({} normalization, {}) has no such weight", name,
                                to_string(config.normalization), config.has_mlp() ? "with MLPs" : "attention-only"));
      return;
    }
    if (!t.defined()) {
      if (optional_slot(name)) return;
      throw Error(fmt::format("weight '{}' is missing (expected shape {})", name, *shape));
    }
    if (t.sizes().vec() != *shape)
      throw Error(fmt::format("weight '{}' has shape {} but the config needs {}", name, t.sizes().vec(), *shape));
  });
}

void ModelWeights::canonicalize_layout() {
  torch::NoGradGuard no_grad;
  const bool tied = is_tied(W_E, W_U);
  auto matrix = [](torch::Tensor& m) {
    if (m.defined() && !has_unit_stride(m)) m = m.contiguous();
  };
  // [heads, d_model, d_head] must read as a [d_model, heads * d_head] matrix with a unit stride.
  auto input_heads = [](torch::Tensor& W) {
    if (!W.defined()) return;
    const bool mergeable = W.stride(0) == W.size(2) * W.stride(2);
    if (!mergeable || !(W.stride(2) == 1 || W.stride(1) == 1)) W = W.permute({1, 0, 2}).contiguous().permute({1, 0, 2});
  };
  // [heads, d_head, d_model] must read as a [heads * d_head, d_model] matrix with a unit stride.
  auto output_heads = [](torch::Tensor& W) {
    if (!W.defined()) return;
    const bool mergeable = W.stride(0) == W.size(1) * W.stride(1);
    if (!mergeable || !(W.stride(2) == 1 || W.stride(1) == 1)) W = W.contiguous();
  };
  auto vector = [](torch::Tensor& b) {
    if (b.defined() && !b.is_contiguous()) b = b.contiguous();
  };
  matrix(W_E);
  matrix(W_pos);
  for (auto& b : blocks) {
    input_heads(b.attn.W_Q);
    input_heads(b.attn.W_K);
    input_heads(b.attn.W_V);
    output_heads(b.attn.W_O);
    for (auto* v : {&b.attn.b_Q, &b.attn.b_K, &b.attn.b_V, &b.attn.b_O, &b.mlp.b_in, &b.mlp.b_out, &b.ln1.w, &b.ln1.b,
                    &b.ln2.w, &b.ln2.b, &b.attn.q_norm.w, &b.attn.q_norm.b, &b.attn.k_norm.w, &b.attn.k_norm.b})
      vector(*v);
    matrix(b.mlp.W_in);
    matrix(b.mlp.W_gate);
    matrix(b.mlp.W_out);
  }
  vector(ln_final.w);
  vector(ln_final.b);
  vector(b_U);
  if (tied)
    W_U = W_E.t();
  else
    matrix(W_U);
}

void ModelWeights::to(torch::Device device, torch::Dtype dtype) {
  torch::NoGradGuard no_grad;
  const bool tied = is_tied(W_E, W_U);
  for_each_slot(*this, [&](const std::string& name, torch::Tensor& t) {
    if (!t.defined() || (tied && name == "unembed.W_U")) return;
    t = t.to(device, t.is_floating_point() ? dtype : t.scalar_type());
  });
  if (tied) W_U = W_E.t();
}

void ModelWeights::requires_grad(bool on) {
  const bool tied = is_tied(W_E, W_U);
  for_each_slot(*this, [&](const std::string& name, torch::Tensor& t) {
    if (!t.defined() || (tied && name == "unembed.W_U")) return;
    if (t.is_leaf())
      t.requires_grad_(on);
    else
      t = t.detach().requires_grad_(on);  // a view into a checkpoint's fused matrix becomes its own leaf
  });
  if (tied) W_U = W_E.t();
}

}  // namespace arrakis
