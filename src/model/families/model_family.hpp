#pragma once
// A model family = a config mapping (Hugging Face config.json -> ModelConfig) plus a weight adapter (the family's
// tensor names and layouts -> ModelWeights in TransformerLens' layout). Every family runs on the one
// HookedTransformer.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "arrakis/io/config_json.hpp"
#include "arrakis/model/config.hpp"
#include "arrakis/model/weights.hpp"
#include "model/families/weight_reader.hpp"

namespace arrakis {

struct ModelFamily {
  std::string name;                      // "gpt2", "gpt-neox", "stable-lm", ...
  std::vector<std::string> model_types;  // config.json "model_type" values it reads
  /// Hugging Face's generic field names -> this family's config keys where they differ (GPT-2's "n_embd" for
  /// "hidden_size"), as the family's PretrainedConfig.attribute_map says.
  std::map<std::string, std::string> attribute_map;
  std::function<ModelConfig(const ConfigJson&)> read_config;
  /// The weights, for a config read_config made from the same config.json (passed too, for tensor-layout options).
  std::function<ModelWeights(WeightReader&, const ModelConfig&, const ConfigJson&)> read_weights;
};

/// The rotary dimensions of a head from a fraction (GPT-NeoX's rotary_pct, StableLM's partial_rotary_factor): a
/// fraction outside (0, 1], or one that rotates no dimension, is an error naming the key.
int64_t rotary_dims_from_fraction(const ConfigJson& j, const std::string& key, double fallback, int64_t d_head);

/// Every Hugging Face family Arrakis loads, in the order they are documented (the registry: model_family.cpp).
const std::vector<ModelFamily>& model_families();
/// The family that reads `model_type`; arrakis::Error naming it, `source`, and the supported families otherwise.
const ModelFamily& family_for_model_type(const std::string& model_type, const std::string& source);

}  // namespace arrakis
