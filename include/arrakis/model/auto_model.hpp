#pragma once
// HookedAutoConfig / HookedAutoModel: a model of any supported family from a few sizes (randomly initialised,
// seeded), or from a checkpoint folder with the family chosen by config.json's model_type.
//
//   HookedAutoConfig config{.name = "llama", .vocab_size = 512, .hidden_size = 64, .intermediate_size = 128,
//                           .num_hidden_layers = 2, .num_attention_heads = 4, .num_key_value_heads = 2};
//   HookedAutoModel model(config);              // every other field as Hugging Face's LlamaConfig defaults it
//   auto pythia = HookedAutoModel::from_pretrained("models/pythia-70m");
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "arrakis/model/hooked_transformer.hpp"
#include "arrakis/model/loading.hpp"

namespace arrakis {

/// Hugging Face's generic config field names; each family's own spelling (GPT-2's n_embd, GPT-Neo's num_layers ...)
/// is applied for it. Unset fields take the family's Hugging Face defaults.
struct HookedAutoConfig {
  std::string name;  // the family: gpt2, gpt-neo, gpt-neox, llama, gemma, phi3, qwen2, mistral, stable-lm
                     // (case, '-' and '_' do not matter; Hugging Face model_type values work too)
  std::optional<int64_t> vocab_size;
  std::optional<int64_t> hidden_size;
  std::optional<int64_t> intermediate_size;
  std::optional<int64_t> num_hidden_layers;
  std::optional<int64_t> num_attention_heads;
  std::optional<int64_t> num_key_value_heads;
  std::optional<int64_t> head_dim;
  std::optional<int64_t> max_position_embeddings;
  std::optional<double> rope_theta;
  std::optional<std::string> hidden_act;
  std::optional<bool> tie_word_embeddings;
  /// Any other field of the family's config.json, under the family's own key ("rotary_pct", "sliding_window",
  /// "rope_scaling", "attention_types", "qk_layernorm", ...).
  nlohmann::json extra = nlohmann::json::object();
  uint64_t seed = 0;                // the random weights: normal(0, initializer_range) matrices, zero biases
  double initializer_range = 0.02;  // Hugging Face's default for every supported family

  /// The config.json this describes (model_type and the family's key names), as Hugging Face would read it.
  nlohmann::json to_hf_json() const;
  /// The ModelConfig the family's adapter makes of it; arrakis::Error for an unknown family or a field the family
  /// does not have (e.g. num_key_value_heads for GPT-2).
  ModelConfig to_model_config() const;
};

class HookedAutoModel : public HookedTransformer {
 public:
  /// A randomly initialised model of the config's family (the same seed gives the same weights everywhere).
  explicit HookedAutoModel(const HookedAutoConfig& config);
  /// load_pretrained: the family from config.json's model_type (or a TransformerLens / llama2.c checkpoint);
  /// arrakis::Error listing the supported families otherwise.
  static HookedAutoModel from_pretrained(const std::filesystem::path& dir, const LoadOptions& options = {});

 private:
  explicit HookedAutoModel(HookedTransformer&& model) : HookedTransformer(std::move(model)) {}
};

}  // namespace arrakis
