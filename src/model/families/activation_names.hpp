#pragma once
// Hugging Face's activation-function names (config.json "activation_function", "hidden_act", ...).
#include <string>

#include "arrakis/io/config_json.hpp"
#include "arrakis/model/config.hpp"

namespace arrakis {

/// Maps a Hugging Face activation name; arrakis::Error naming the key and the file when unsupported.
Activation activation_from_hf(const std::string& name, const ConfigJson& config, const std::string& key);

}  // namespace arrakis
