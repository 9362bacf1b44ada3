#pragma once
// The TransformerLens checkpoint format: a config.json of HookedTransformerConfig fields plus a model.safetensors
// state dict with TransformerLens' parameter names (embed.W_E, blocks.0.attn.W_Q, ...).
#include <filesystem>
#include <nlohmann/json.hpp>

#include "arrakis/io/config_json.hpp"
#include "arrakis/model/config.hpp"
#include "arrakis/model/weights.hpp"

namespace arrakis {

class Checkpoint;
class HookedTransformer;

/// True when a config.json holds HookedTransformerConfig fields (n_layers, d_model, ...) rather than a Hugging Face
/// model_type.
bool is_transformer_lens_config(const ConfigJson& config);
ModelConfig config_from_transformer_lens(const ConfigJson& config);
nlohmann::json config_to_transformer_lens(const ModelConfig& config);
/// Reads the state dict; arrakis::Error naming a missing tensor, a tensor of the wrong shape, or one the config has
/// no place for (e.g. LayerNorm weights when normalization_type is null).
ModelWeights weights_from_transformer_lens(const Checkpoint& checkpoint, const ModelConfig& config, torch::Dtype dtype,
                                           torch::Device device);
/// Writes config.json and model.safetensors into `dir` (created if needed).
void save_transformer_lens(const HookedTransformer& model, const std::filesystem::path& dir);

}  // namespace arrakis
