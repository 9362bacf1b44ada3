#pragma once
// Checks every seed tool makes of its inputs, with errors naming the method and the argument.
#include <torch/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arrakis/analysis/activation_dataset.hpp"
#include "arrakis/model/head.hpp"
#include "arrakis/model/hooked_transformer.hpp"

namespace arrakis::tool_inputs {

/// Token ids as [batch, pos] int64 (a [pos] vector becomes one sequence); arrakis::Error when undefined, empty,
/// not integers or of more than two dimensions.
torch::Tensor batch_of_tokens(const torch::Tensor& tokens, std::string_view method);
/// A position counted from the start (negative: from the end, as Python indexes), checked against `length`.
int64_t position(int64_t p, int64_t length, std::string_view method, std::string_view argument);
/// arrakis::Error unless 0 <= layer < n_layers.
void check_layer(const ModelConfig& config, int64_t layer, std::string_view method,
                 std::string_view argument = "layer");
/// arrakis::Error unless the head is one of the model's.
void check_head(const ModelConfig& config, const Head& head, std::string_view method, std::string_view argument);

/// arrakis::Error unless `token` is a token of the model's output vocabulary.
void check_token(const HookedTransformer& model, int64_t token, std::string_view method, std::string_view argument);
/// The activations a representation method reads: a stored dataset (`dataset`, a folder `arrakis activations collect`
/// wrote; its hook must be `hook` when both are given) or the hook point's activations on `tokens` (every position of
/// every sequence, collected in memory). arrakis::Error naming the method when neither or both are given.
ActivationDataset activation_data(HookedTransformer& model, const std::optional<torch::Tensor>& tokens,
                                  const std::string& dataset, const std::string& hook, std::string_view method);

/// The token contexts a method runs the model on: `tokens`, or the tokens a stored activation dataset was collected on;
/// arrakis::Error naming the method when neither or both are given.
torch::Tensor tokens_or_dataset_tokens(const std::optional<torch::Tensor>& tokens, const std::string& dataset,
                                       std::string_view method);

/// A tensor's values, flattened, as float64 (for results' JSON).
std::vector<double> to_doubles(const torch::Tensor& t);

}  // namespace arrakis::tool_inputs
