#include "arrakis/model/loading.hpp"

#include <fmt/format.h>

#include "arrakis/error.hpp"
#include "arrakis/io/checkpoint.hpp"
#include "arrakis/io/config_json.hpp"
#include "arrakis/model/llama2c_format.hpp"
#include "arrakis/model/transformer_lens_format.hpp"
#include "model/families/model_family.hpp"

namespace arrakis {

namespace fs = std::filesystem;

namespace {

HookedTransformer with_processing(HookedTransformer model, const LoadOptions& options) {
  if (options.processing.any()) model.process_weights(options.processing);
  return model;
}

HookedTransformer load_llama2c_model(const fs::path& file, const LoadOptions& options) {
  auto [config, weights] = load_llama2c(file, options.dtype, options.device);
  std::shared_ptr<Tokenizer> tokenizer = options.load_tokenizer ? try_load_tokenizer(file.parent_path()) : nullptr;
  return with_processing(HookedTransformer(std::move(config), std::move(weights), std::move(tokenizer)), options);
}

}  // namespace

HookedTransformer load_pretrained(const fs::path& dir, const LoadOptions& options) {
  if (options.dtype != torch::kFloat32 && options.dtype != torch::kBFloat16 && options.dtype != torch::kFloat16 &&
      options.dtype != torch::kFloat64)
    throw Error(fmt::format("cannot load {} as {}: choose float32, bfloat16, float16 or float64", dir.string(),
                            c10::toString(options.dtype)));
  if (fs::is_regular_file(dir) && is_llama2c_checkpoint(dir)) return load_llama2c_model(dir, options);
  if (!fs::is_directory(dir)) throw Error(fmt::format("model folder {} does not exist", dir.string()));
  const auto config_path = dir / "config.json";
  if (!fs::is_regular_file(config_path)) {
    if (auto llama2c = find_llama2c_checkpoint(dir)) return load_llama2c_model(*llama2c, options);
    throw Error(fmt::format("model folder {} has no config.json (nor a llama2.c checkpoint)", dir.string()));
  }
  const auto json = ConfigJson::load(config_path);

  // The family first: an unsupported model_type is the error to report, whatever the folder holds.
  const bool transformer_lens = is_transformer_lens_config(json);
  if (!transformer_lens && !json.has("model_type"))
    json.fail("neither a Hugging Face config (no 'model_type') nor a TransformerLens one (no 'n_layers'/'d_model')");
  const ModelFamily* family =
      transformer_lens ? nullptr : &family_for_model_type(json.get_string("model_type"), json.source());
  auto checkpoint = Checkpoint::open(dir);
  ModelConfig config;
  ModelWeights weights;
  if (transformer_lens) {
    config = config_from_transformer_lens(json);
    weights = weights_from_transformer_lens(*checkpoint, config, options.dtype, options.device);
  } else {
    config = family->read_config(json);
    try {
      config.validate();
    } catch (const Error& e) {
      json.fail(e.what());
    }
    WeightReader reader(*checkpoint, options.dtype, options.device);
    weights = family->read_weights(reader, config, json);
    // Buffers Hugging Face checkpoints may carry (causal-mask caches, rotary tables) are recomputed, not read.
    reader.check_all_used([](const std::string& n) {
      for (const char* buffer :
           {".attn.bias", ".attn.masked_bias", ".attention.bias", ".attention.masked_bias", "rotary_emb.inv_freq"})
        if (n.ends_with(buffer)) return true;
      return false;
    });
  }
  config.dtype = options.dtype;
  if (config.model_name.empty()) config.model_name = dir.filename().string();
  std::shared_ptr<Tokenizer> tokenizer = options.load_tokenizer ? try_load_tokenizer(dir) : nullptr;
  return with_processing(HookedTransformer(std::move(config), std::move(weights), std::move(tokenizer)), options);
}

std::vector<std::string> supported_families() {
  std::vector<std::string> names;
  for (const auto& f : model_families()) names.push_back(f.name);
  return names;
}

}  // namespace arrakis
