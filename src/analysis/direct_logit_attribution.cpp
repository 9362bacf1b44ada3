#include "arrakis/analysis/direct_logit_attribution.hpp"

#include <fmt/format.h>

#include "arrakis/analysis/residual_stream.hpp"
#include "arrakis/error.hpp"
#include "arrakis/hooks/hook_catalogue.hpp"
#include "arrakis/model/norm_semantics.hpp"

namespace arrakis {
namespace {

PosSlice to_pos_slice(const ReadPosition& position) {
  return position.per_prompt.defined() ? PosSlice::per_prompt(position.per_prompt) : PosSlice::at(position.index);
}

}  // namespace

LogitAttribution direct_logit_attribution(const HookedTransformer& model, const ActivationCache& cache,
                                          const torch::Tensor& logits, const LogitAttributionOptions& options) {
  const auto& c = model.config();
  if (!options.answer.defined()) throw Error("direct logit attribution: no answer token given (options.answer)");
  const torch::Tensor &answer = options.answer, &wrong = options.wrong;
  const ReadPosition& position = options.position;
  const bool neurons = options.neurons;
  const auto slice = to_pos_slice(position);
  LogitAttribution out;

  auto layers = decompose_resid(model, cache, {.pos_slice = slice});
  out.component_labels = layers.labels;
  out.components = logit_attrs(model, cache, layers.components, answer, {wrong, slice});  // [n, batch]
  const int64_t batch = out.components.size(1);

  auto heads = stack_head_results(model, cache, {.pos_slice = slice});
  out.heads =
      logit_attrs(model, cache, heads.components, answer, {wrong, slice}).reshape({c.n_layers, c.n_heads, batch});

  if (neurons && c.has_mlp()) {
    // post[b, n] * (W_out[n] · direction[b]) / scale[b], without materialising every neuron's output vector. The
    // LayerNorm's centring is linear, so it applies to W_out's rows.
    auto directions = tokens_to_residual_directions(model, answer);
    if (wrong.defined()) directions = directions - tokens_to_residual_directions(model, wrong);
    if (directions.dim() == 1) directions = directions.unsqueeze(0).expand({batch, c.d_model});
    std::vector<torch::Tensor> per_layer;
    for (int l = 0; l < c.n_layers; ++l) {
      auto W_out = model.weights().blocks[l].mlp.W_out;  // [d_mlp, d_model]
      auto post = slice.apply(cache.at("post", l), 1);   // [batch, d_mlp]
      auto written = W_out.to(post.device(), post.scalar_type());
      if (norm_semantics(c.normalization).centres) written = written - written.mean(-1, /*keepdim=*/true);
      auto along = torch::matmul(written, directions.to(post.device(), post.scalar_type()).t());  // [d_mlp, batch]
      auto attribution = post.t() * along;
      if (norm_semantics(c.normalization).present)
        attribution = attribution / slice.apply(cache[hook_name(HookKind::LnFinalScale)], 1).reshape({1, batch});
      per_layer.push_back(attribution);
    }
    out.neurons = torch::stack(per_layer);
  }

  out.bias = final_bias_logit_diff(model, answer, wrong).to(out.components.device(), out.components.scalar_type());
  if (out.bias.dim() == 0) out.bias = out.bias.expand({batch}).clone();
  auto at = select_position(logits, position).to(torch::kFloat32);
  auto ids = [&](const torch::Tensor& t) {
    auto i = t.to(at.device(), torch::kInt64);
    return (i.dim() == 0 ? i.expand({batch}) : i).unsqueeze(-1);
  };
  out.total = at.gather(-1, ids(answer)).squeeze(-1);
  if (wrong.defined()) out.total = out.total - at.gather(-1, ids(wrong)).squeeze(-1);
  return out;
}

LogitAttribution run_direct_logit_attribution(HookedTransformer& model, const torch::Tensor& tokens,
                                              const LogitAttributionOptions& options) {
  torch::NoGradGuard no_grad;
  ForwardOptions forward;
  forward.attention_mask = options.attention_mask;
  auto filter = hook_kinds({HookKind::Embed, HookKind::PosEmbed, HookKind::AttnOut, HookKind::MlpOut, HookKind::Z,
                            HookKind::MlpPost, HookKind::LnFinalScale});
  auto [logits, cache] = model.run_with_cache(tokens, filter, forward);
  return direct_logit_attribution(model, cache, logits, options);
}

}  // namespace arrakis
