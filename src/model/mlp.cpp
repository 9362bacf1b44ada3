#include "model/mlp.hpp"

#include "model/linear.hpp"

namespace arrakis {

torch::Tensor activation(Activation fn, const torch::Tensor& x) {
  switch (fn) {
    case Activation::Relu: return torch::relu(x);
    case Activation::Gelu: return torch::gelu(x);
    case Activation::GeluTanh: return torch::gelu(x, "tanh");  // one fused kernel for GPT-2's gelu_new formula
    case Activation::Silu: return torch::silu(x);
  }
  return x;
}

torch::Tensor mlp_forward(const ModelConfig& config, const MLPWeights& w, const torch::Tensor& x,
                          const HookRegistry& hooks, const BlockHookIds& ids) {
  const int64_t batch = x.size(0), pos = x.size(1), d_mlp = config.d_mlp;
  auto rows = x.reshape({-1, config.d_model});
  torch::Tensor post;
  if (config.gated_mlp) {
    auto pre = hooks.run(ids.mlp_pre, torch::mm(rows, w.W_gate).view({batch, pos, d_mlp}));
    auto linear_branch = hooks.run(ids.mlp_pre_linear, linear(rows, w.W_in, w.b_in).view({batch, pos, d_mlp}));
    post = activation(config.act_fn, pre) * linear_branch;
  } else {
    auto pre = hooks.run(ids.mlp_pre, linear(rows, w.W_in, w.b_in).view({batch, pos, d_mlp}));
    post = activation(config.act_fn, pre);
  }
  post = hooks.run(ids.mlp_post, post);
  return linear(post.reshape({-1, d_mlp}), w.W_out, w.b_out).view({batch, pos, config.d_model});
}

}  // namespace arrakis
