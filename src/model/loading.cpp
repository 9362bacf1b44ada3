#include "arrakis/model/loading.hpp"

#include <fmt/format.h>

#include "arrakis/error.hpp"
#include "arrakis/io/checkpoint.hpp"
#include "arrakis/io/config_json.hpp"
#include "arrakis/model/transformer_lens_format.hpp"
#include "model/families/model_family.hpp"

namespace arrakis {

namespace fs = std::filesystem;

HookedTransformer load_pretrained(const fs::path& dir, const LoadOptions& options) {
  if (!fs::is_directory(dir)) throw Error(fmt::format("model folder {} does not exist", dir.string()));
  const auto config_path = dir / "config.json";
  if (!fs::is_regular_file(config_path))
    throw Error(fmt::format("model folder {} has no config.json", dir.string()));
  const auto json = ConfigJson::load(config_path);
  if (options.dtype != torch::kFloat32 && options.dtype != torch::kBFloat16 && options.dtype != torch::kFloat16 &&
      options.dtype != torch::kFloat64)
    throw Error(fmt::format("cannot load {} as {}: choose float32, bfloat16, float16 or float64", dir.string(),
                            c10::toString(options.dtype)));

  auto checkpoint = Checkpoint::open(dir);
  ModelConfig config;
  ModelWeights weights;
  if (is_transformer_lens_config(json)) {
    config = config_from_transformer_lens(json);
    weights = weights_from_transformer_lens(*checkpoint, config, options.dtype, options.device);
  } else {
    if (!json.has("model_type"))
      json.fail("neither a Hugging Face config (no 'model_type') nor a TransformerLens one (no 'n_layers'/'d_model')");
    const auto& family = family_for_model_type(json.get_string("model_type"), json.source());
    config = family.read_config(json);
    try {
      config.validate();
    } catch (const Error& e) {
      json.fail(e.what());
    }
    WeightReader reader(*checkpoint, options.dtype, options.device);
    weights = family.read_weights(reader, config, json);
    // Buffers Hugging Face checkpoints may carry (causal-mask caches, rotary tables) are recomputed, not read.
    reader.check_all_used([](const std::string& n) {
      for (const char* buffer : {".attn.bias", ".attn.masked_bias", ".attention.bias", ".attention.masked_bias",
                                 "rotary_emb.inv_freq"})
        if (n.ends_with(buffer)) return true;
      return false;
    });
  }
  config.dtype = options.dtype;
  if (config.model_name.empty()) config.model_name = dir.filename().string();
  std::shared_ptr<Tokenizer> tokenizer = options.load_tokenizer ? try_load_tokenizer(dir) : nullptr;
  return HookedTransformer(std::move(config), std::move(weights), std::move(tokenizer));
}

std::vector<std::string> supported_families() {
  std::vector<std::string> names;
  for (const auto& f : model_families()) names.push_back(f.name);
  return names;
}

}  // namespace arrakis
