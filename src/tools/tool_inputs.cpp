#include "tools/tool_inputs.hpp"

#include <fmt/format.h>

#include "arrakis/error.hpp"

namespace arrakis::tool_inputs {

torch::Tensor batch_of_tokens(const torch::Tensor& tokens, std::string_view method) {
  if (!tokens.defined()) throw Error(fmt::format("{}: give tokens (--prompt or --input-ids on the shell)", method));
  if (tokens.is_floating_point() || tokens.is_complex() || tokens.scalar_type() == torch::kBool)
    throw Error(fmt::format("{}: tokens must be integer ids, not {}", method, c10::toString(tokens.scalar_type())));
  if (tokens.dim() < 1 || tokens.dim() > 2)
    throw Error(fmt::format("{}: tokens must be [pos] or [batch, pos], not {} dimensions", method, tokens.dim()));
  if (tokens.numel() == 0) throw Error(fmt::format("{}: tokens are empty", method));
  auto ids = tokens.to(torch::kLong);
  return ids.dim() == 1 ? ids.unsqueeze(0) : ids;
}

int64_t position(int64_t p, int64_t length, std::string_view method, std::string_view argument) {
  const int64_t index = p < 0 ? p + length : p;
  if (index < 0 || index >= length)
    throw Error(fmt::format("{}: {} {} is outside the {} positions (0..{}, or -1..-{} from the end)", method, argument,
                            p, length, length - 1, length));
  return index;
}

void check_layer(const ModelConfig& config, int64_t layer, std::string_view method, std::string_view argument) {
  if (layer < 0 || layer >= config.n_layers)
    throw Error(
        fmt::format("{}: {} {} is not a layer of this model (0..{})", method, argument, layer, config.n_layers - 1));
}

void check_head(const ModelConfig& config, const Head& head, std::string_view method, std::string_view argument) {
  try {
    head.check(config);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}: {}", method, argument, e.what()));
  }
}

void check_token(const HookedTransformer& model, int64_t token, std::string_view method, std::string_view argument) {
  const int64_t vocab = model.weights().W_U.size(1);
  if (token < 0 || token >= vocab)
    throw Error(fmt::format("{}: {} {} is not a token of the vocabulary (0..{})", method, argument, token, vocab - 1));
}

std::vector<double> to_doubles(const torch::Tensor& t) {
  auto c = t.to(torch::kFloat64).cpu().contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

ActivationDataset activation_data(HookedTransformer& model, const std::optional<torch::Tensor>& tokens,
                                  const std::string& dataset, const std::string& hook, std::string_view method) {
  if (tokens && !dataset.empty()) throw Error(fmt::format("{}: give tokens or dataset, not both", method));
  if (!dataset.empty()) {
    auto data = ActivationDataset::open(dataset);
    if (!hook.empty() && hook != data.hook())
      throw Error(
          fmt::format("{}: argument hook is {}, but the dataset {} holds {}", method, hook, dataset, data.hook()));
    return data;
  }
  if (!tokens)
    throw Error(fmt::format("{}: give tokens (--prompt / --input-ids) or dataset (a folder of activations)", method));
  if (hook.empty()) throw Error(fmt::format("{}: argument hook is required with tokens", method));
  const auto ids = batch_of_tokens(*tokens, method);
  return collect_activations(model, {.hook = hook,
                                     .tokens = TokenSource::tensor(ids),
                                     .n_tokens = ids.numel(),
                                     .context_length = ids.size(1),
                                     .memory_budget = int64_t{4} << 30});
}

torch::Tensor tokens_or_dataset_tokens(const std::optional<torch::Tensor>& tokens, const std::string& dataset,
                                       std::string_view method) {
  if (tokens && !dataset.empty()) throw Error(fmt::format("{}: give tokens or dataset, not both", method));
  if (tokens) return batch_of_tokens(*tokens, method);
  if (!dataset.empty()) return ActivationDataset::open(dataset).tokens();
  throw Error(fmt::format("{}: give tokens (--prompt / --input-ids) or dataset", method));
}

}  // namespace arrakis::tool_inputs
