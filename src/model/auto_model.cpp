// HookedAutoConfig -> the family's config.json -> the family's own config mapping, so a random model of a family has
// exactly the defaults a checkpoint of that family would get.
#include "arrakis/model/auto_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "arrakis/error.hpp"
#include "model/families/model_family.hpp"

namespace arrakis {
namespace {

/// "GPT-NeoX", "gpt_neox" and "gptneox" name one family.
std::string family_key(const std::string& name) {
  std::string key;
  for (char ch : name)
    if (ch != '-' && ch != '_' && ch != ' ') key += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return key;
}

const ModelFamily& family_named(const std::string& name) {
  std::string supported;
  for (const auto& family : model_families()) {
    if (family_key(family.name) == family_key(name)) return family;
    for (const auto& type : family.model_types)
      if (family_key(type) == family_key(name)) return family;
    supported += (supported.empty() ? "" : ", ") + family.name;
  }
  throw Error(fmt::format("HookedAutoConfig: '{}' is not a supported family (supported: {})", name, supported));
}

std::string source_of(const HookedAutoConfig& c) { return fmt::format("HookedAutoConfig(name = \"{}\")", c.name); }

}  // namespace

nlohmann::json HookedAutoConfig::to_hf_json() const {
  const auto& family = family_named(name);
  nlohmann::json j = nlohmann::json::object();
  j["model_type"] = family.model_types.front();
  auto put = [&](const std::string& generic, const auto& value) {
    if (!value) return;
    auto mapped = family.attribute_map.find(generic);
    j[mapped == family.attribute_map.end() ? generic : mapped->second] = *value;
  };
  put("vocab_size", vocab_size);
  put("hidden_size", hidden_size);
  put("intermediate_size", intermediate_size);
  put("num_hidden_layers", num_hidden_layers);
  put("num_attention_heads", num_attention_heads);
  put("num_key_value_heads", num_key_value_heads);
  put("head_dim", head_dim);
  put("max_position_embeddings", max_position_embeddings);
  put("rope_theta", rope_theta);
  put("hidden_act", hidden_act);
  put("tie_word_embeddings", tie_word_embeddings);
  if (!extra.is_object()) throw Error(source_of(*this) + ": 'extra' must be a JSON object of config.json fields");
  for (const auto& [key, value] : extra.items()) j[key] = value;
  return j;
}

ModelConfig HookedAutoConfig::to_model_config() const {
  const auto& family = family_named(name);
  const ConfigJson json(to_hf_json(), source_of(*this));
  ModelConfig c = family.read_config(json);
  c.model_name = fmt::format("random {} (seed {})", family.name, seed);
  try {
    c.validate();
  } catch (const Error& e) {
    json.fail(e.what());
  }
  // A generic field the family's config does not read would be silently ignored: say so instead.
  auto check = [&](const char* field, const auto& requested, auto actual) {
    if (requested && static_cast<decltype(actual)>(*requested) != actual)
      json.fail(fmt::format("the {} family has no field '{}' (its Hugging Face config does not read it)", family.name,
                            field));
  };
  check("vocab_size", vocab_size, c.d_vocab);
  check("hidden_size", hidden_size, c.d_model);
  check("intermediate_size", intermediate_size, c.d_mlp);
  check("num_hidden_layers", num_hidden_layers, c.n_layers);
  check("num_attention_heads", num_attention_heads, c.n_heads);
  check("num_key_value_heads", num_key_value_heads, c.kv_heads());
  check("head_dim", head_dim, c.d_head);
  check("max_position_embeddings", max_position_embeddings, c.n_ctx);
  check("tie_word_embeddings", tie_word_embeddings, c.tie_word_embeddings);
  if (rope_theta && (c.positional_embedding != PositionalEmbedding::Rotary || c.rotary_base != *rope_theta))
    json.fail(fmt::format("the {} family has no field 'rope_theta' (it does not use rotary embeddings)", family.name));
  return c;
}

HookedAutoModel::HookedAutoModel(const HookedAutoConfig& auto_config)
    : HookedTransformer([&] {
        ModelConfig config = auto_config.to_model_config();
        ModelWeights weights = ModelWeights::random(config, auto_config.seed, auto_config.initializer_range);
        // Gemma's norms multiply by (1 + w) and Hugging Face initialises w to zero: a unit scale, as elsewhere.
        if (config.normalization == NormType::RMSNormOnePlus) {
          torch::NoGradGuard no_grad;
          for (auto& block : weights.blocks)
            for (auto* norm : {&block.ln1, &block.ln2})
              if (norm->w.defined()) norm->w.zero_();
          weights.ln_final.w.zero_();
        }
        return HookedTransformer(std::move(config), std::move(weights));
      }()) {}

HookedAutoModel HookedAutoModel::from_pretrained(const std::filesystem::path& dir, const LoadOptions& options) {
  return HookedAutoModel(load_pretrained(dir, options));
}

}  // namespace arrakis
