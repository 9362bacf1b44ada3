#pragma once
// Seeded random models of every family for the unit tests: the invariants (hooks, the cache, patching fast = naive,
// generation, decompositions) need a model, not a reference, so they run on a fresh clone without ../shared.
// Shaped like ../shared's Hugging Face fixtures (d_model 64, 2 layers, 4 heads, vocabulary 512, 64 positions) and
// initialised as Hugging Face initialises them (normal matrices, zero biases, unit norm weights) but with a standard
// deviation of 0.1 instead of 0.02: at 0.02 every attention pattern is nearly uniform, so patching a query or a key
// would change nothing measurable and the tests that check a patch does something could not tell.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/auto_model.hpp"
#include "arrakis/model/transformer_lens_format.hpp"
#include "arrakis/util/seeded_generator.hpp"
#include "test_support.hpp"

namespace arrakis::test {

/// Every family HookedAutoModel builds, for INSTANTIATE_TEST_SUITE_P.
inline const std::vector<std::string>& model_families_under_test() {
  static const std::vector<std::string> families = {"gpt2", "gpt-neo", "gpt-neox", "llama",    "gemma",
                                                    "phi3", "qwen2",   "mistral",  "stable-lm"};
  return families;
}

/// The family's random model config: grouped-query (2 key/value heads) where the family has that option, StableLM
/// with its per-head query/key norms, Gemma with head_dim 16 (its default is 256).
inline HookedAutoConfig random_model_config(const std::string& family, uint64_t seed = 0) {
  HookedAutoConfig c{.name = family,
                     .vocab_size = 512,
                     .hidden_size = 64,
                     .num_hidden_layers = 2,
                     .num_attention_heads = 4,
                     .max_position_embeddings = 64};
  const bool gpt_like = family == "gpt2" || family == "gpt-neo" || family == "gpt-neox";  // d_mlp = 4 d_model
  if (!gpt_like) {
    c.intermediate_size = 160;
    c.num_key_value_heads = 2;
  }
  if (family == "gemma") c.head_dim = 16;
  if (family == "stable-lm") c.extra["qk_layernorm"] = true;
  if (family == "llama") c.tie_word_embeddings = false;
  c.seed = seed;
  c.initializer_range = 0.1;
  return c;
}

inline HookedAutoModel random_model(const std::string& family, uint64_t seed = 0) {
  return HookedAutoModel(random_model_config(family, seed));
}

/// Seeded random token ids [batch, length] over the model's vocabulary.
inline torch::Tensor random_tokens(const HookedTransformer& model, int64_t batch, int64_t length, uint64_t seed) {
  auto generator = seeded_generator(seed);
  return torch::randint(0, model.config().d_vocab, {batch, length}, generator, torch::kLong);
}

/// The family's random model saved as a checkpoint folder (TransformerLens format), for tests of the command line.
inline std::filesystem::path saved_random_model(const std::string& family, uint64_t seed = 0) {
  auto dir = temp_dir("random-model-" + family + "-" + std::to_string(seed));
  save_transformer_lens(random_model(family, seed), dir);
  return dir;
}

/// A seeded random checkpoint folder in Hugging Face's own layout (config.json with the family's model_type and key
/// names, model.safetensors with the tensor names and shapes its *ForCausalLM class saves), for the tests of loading
/// Hugging Face folders: sharding, dtypes, errors that name a tensor. Families gpt2, gpt-neox and qwen2, shaped like
/// ../shared's fixtures (d_model 64, 2 layers, 4 heads, vocabulary 512, 64 positions). Written from the layout
/// itself, not through the project's loader: matrices and biases normal(0, 0.1), norm gains 1 + normal(0, 0.1).
inline std::filesystem::path saved_random_hf_model(const std::string& family, uint64_t seed = 0) {
  const int64_t d = 64, layers = 2, heads = 4, vocab = 512, positions = 64;
  nlohmann::json config;
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  auto add = [&](const std::string& name, std::vector<int64_t> shape) { shapes.emplace_back(name, std::move(shape)); };
  if (family == "gpt2") {  // GPT2LMHeadModel: Conv1D weights stored [in, out], lm_head tied to wte
    config = {{"model_type", "gpt2"}, {"vocab_size", vocab}, {"n_embd", d},
              {"n_layer", layers},    {"n_head", heads},     {"n_positions", positions}};
    add("transformer.wte.weight", {vocab, d});
    add("transformer.wpe.weight", {positions, d});
    for (int64_t l = 0; l < layers; ++l) {
      const std::string b = "transformer.h." + std::to_string(l) + ".";
      for (const char* norm : {"ln_1", "ln_2"}) {
        add(b + norm + ".weight", {d});
        add(b + norm + ".bias", {d});
      }
      add(b + "attn.c_attn.weight", {d, 3 * d});
      add(b + "attn.c_attn.bias", {3 * d});
      add(b + "attn.c_proj.weight", {d, d});
      add(b + "attn.c_proj.bias", {d});
      add(b + "mlp.c_fc.weight", {d, 4 * d});
      add(b + "mlp.c_fc.bias", {4 * d});
      add(b + "mlp.c_proj.weight", {4 * d, d});
      add(b + "mlp.c_proj.bias", {d});
    }
    add("transformer.ln_f.weight", {d});
    add("transformer.ln_f.bias", {d});
  } else if (family == "gpt-neox") {  // GPTNeoXForCausalLM: nn.Linear weights [out, in], untied embed_out
    config = {{"model_type", "gpt_neox"},
              {"vocab_size", vocab},
              {"hidden_size", d},
              {"intermediate_size", 4 * d},
              {"num_hidden_layers", layers},
              {"num_attention_heads", heads},
              {"max_position_embeddings", positions},
              {"rotary_pct", 0.25},
              {"use_parallel_residual", true},
              {"tie_word_embeddings", false}};
    add("gpt_neox.embed_in.weight", {vocab, d});
    for (int64_t l = 0; l < layers; ++l) {
      const std::string b = "gpt_neox.layers." + std::to_string(l) + ".";
      for (const char* norm : {"input_layernorm", "post_attention_layernorm"}) {
        add(b + norm + ".weight", {d});
        add(b + norm + ".bias", {d});
      }
      add(b + "attention.query_key_value.weight", {3 * d, d});
      add(b + "attention.query_key_value.bias", {3 * d});
      add(b + "attention.dense.weight", {d, d});
      add(b + "attention.dense.bias", {d});
      add(b + "mlp.dense_h_to_4h.weight", {4 * d, d});
      add(b + "mlp.dense_h_to_4h.bias", {4 * d});
      add(b + "mlp.dense_4h_to_h.weight", {d, 4 * d});
      add(b + "mlp.dense_4h_to_h.bias", {d});
    }
    add("gpt_neox.final_layer_norm.weight", {d});
    add("gpt_neox.final_layer_norm.bias", {d});
    add("embed_out.weight", {vocab, d});
  } else if (family == "qwen2") {  // Qwen2ForCausalLM: grouped-query attention with q/k/v biases, gated MLP, RMSNorm
    const int64_t kv_heads = 2, d_head = d / heads, d_mlp = 160;
    config = {{"model_type", "qwen2"},
              {"vocab_size", vocab},
              {"hidden_size", d},
              {"intermediate_size", d_mlp},
              {"num_hidden_layers", layers},
              {"num_attention_heads", heads},
              {"num_key_value_heads", kv_heads},
              {"max_position_embeddings", positions},
              {"tie_word_embeddings", false}};
    add("model.embed_tokens.weight", {vocab, d});
    for (int64_t l = 0; l < layers; ++l) {
      const std::string b = "model.layers." + std::to_string(l) + ".";
      add(b + "input_layernorm.weight", {d});
      add(b + "post_attention_layernorm.weight", {d});
      add(b + "self_attn.q_proj.weight", {d, d});
      add(b + "self_attn.q_proj.bias", {d});
      for (const char* projection : {"k_proj", "v_proj"}) {
        add(b + "self_attn." + projection + ".weight", {kv_heads * d_head, d});
        add(b + "self_attn." + projection + ".bias", {kv_heads * d_head});
      }
      add(b + "self_attn.o_proj.weight", {d, d});
      add(b + "mlp.gate_proj.weight", {d_mlp, d});
      add(b + "mlp.up_proj.weight", {d_mlp, d});
      add(b + "mlp.down_proj.weight", {d, d_mlp});
    }
    add("model.norm.weight", {d});
    add("lm_head.weight", {vocab, d});
  } else {
    ADD_FAILURE() << "saved_random_hf_model: no Hugging Face layout for family " << family;
    return {};
  }
  auto generator = seeded_generator(seed);
  NamedTensors tensors;
  for (const auto& [name, shape] : shapes) {
    auto values = at::normal(0.0, 0.1, shape, generator, torch::TensorOptions().dtype(torch::kFloat32));
    // In these families every one-dimensional ".weight" is a norm's gain.
    const bool gain = shape.size() == 1 && name.ends_with(".weight");
    tensors.emplace_back(name, gain ? values + 1.0 : values);
  }
  auto dir = temp_dir("random-hf-model-" + family + "-" + std::to_string(seed));
  std::ofstream(dir / "config.json") << config.dump(1);
  save_safetensors(dir / "model.safetensors", tensors);
  return dir;
}

/// A gtest parameter name for a family ("stable-lm" -> "stable_lm").
inline std::string family_test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (auto& ch : name)
    if (ch == '-') ch = '_';
  return name;
}

}  // namespace arrakis::test
