#pragma once
// A model family = a config mapping (Hugging Face config.json -> ModelConfig) plus a weight adapter (the family's
// tensor names and layouts -> ModelWeights in TransformerLens' layout). Every family runs on the one
// HookedTransformer.
#include <functional>
#include <string>
#include <vector>

#include "arrakis/io/config_json.hpp"
#include "arrakis/model/config.hpp"
#include "arrakis/model/weights.hpp"
#include "model/families/weight_reader.hpp"

namespace arrakis {

struct ModelFamily {
  std::string name;                       // "gpt2"
  std::vector<std::string> model_types;   // config.json "model_type" values it reads
  std::function<ModelConfig(const ConfigJson&)> read_config;
  std::function<ModelWeights(WeightReader&, const ModelConfig&)> read_weights;
};

/// Every Hugging Face family Arrakis loads, in the order they are documented.
const std::vector<ModelFamily>& model_families();
/// The family that reads `model_type`; arrakis::Error naming it, `source`, and the supported families otherwise.
const ModelFamily& family_for_model_type(const std::string& model_type, const std::string& source);

// Each family's definition (one file each under src/model/families/).
ModelFamily gpt2_family();

}  // namespace arrakis
