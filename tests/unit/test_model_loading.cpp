// Loading Hugging Face checkpoint folders: sharded safetensors, dtypes, padding, the key/value cache, and the errors
// bad input gets, on a seeded random checkpoint in GPT-2's Hugging Face layout (random_models.hpp). Hugging Face's own
// logits for each family: reference/test_hf_fixtures.cpp; a pytorch_model.bin:
// reference/test_pytorch_model_bin.cpp.
#include <fstream>

#include "arrakis/io/checkpoint.hpp"
#include "arrakis/io/config_json.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/loading.hpp"
#include "arrakis/util/seeded_generator.hpp"
#include "test_support.hpp"
#include "unit/random_models.hpp"

namespace arrakis {
namespace {

namespace fs = std::filesystem;
using torch::indexing::Slice;

// Written once for the whole suite; tests that change it work on a copy.
const fs::path& gpt2_dir() {
  static const fs::path dir = test::saved_random_hf_model("gpt2");
  return dir;
}

// Two sequences of 12 tokens, as the Hugging Face fixtures have.
torch::Tensor input_ids() { return torch::randint(512, {2, 12}, seeded_generator(1), torch::kInt64); }

// The model's own float32 logits for input_ids(), read from the unchanged folder.
torch::Tensor float32_logits() { return load_pretrained(gpt2_dir())(input_ids()); }

TEST(Loading, ShardedSafetensorsThroughTheIndex) {
  auto dir = test::temp_dir("sharded");
  fs::copy_file(gpt2_dir() / "config.json", dir / "config.json");
  auto tensors = load_safetensors(gpt2_dir() / "model.safetensors");
  NamedTensors first(tensors.begin(), tensors.begin() + 10), second(tensors.begin() + 10, tensors.end());
  save_safetensors(dir / "model-00001-of-00002.safetensors", first);
  save_safetensors(dir / "model-00002-of-00002.safetensors", second);
  nlohmann::json index;
  for (const auto& [n, t] : first) index["weight_map"][n] = "model-00001-of-00002.safetensors";
  for (const auto& [n, t] : second) index["weight_map"][n] = "model-00002-of-00002.safetensors";
  std::ofstream(dir / "model.safetensors.index.json") << index.dump();
  auto model = load_pretrained(dir);
  EXPECT_LT(test::max_abs_diff(model(input_ids()), float32_logits()), 1e-4);

  // An index naming a shard that is not there.
  index["weight_map"]["transformer.wte.weight"] = "model-00003-of-00002.safetensors";
  std::ofstream(dir / "model.safetensors.index.json") << index.dump();
  auto message = test::error_of([&] { load_pretrained(dir); });
  EXPECT_NE(message.find("model-00003-of-00002.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("does not exist"), std::string::npos) << message;
}

TEST(Loading, MissingTensorIsAnErrorNamingTensorAndFile) {
  auto dir = test::temp_dir("missing-tensor");
  fs::copy_file(gpt2_dir() / "config.json", dir / "config.json");
  NamedTensors kept;
  for (auto& [n, t] : load_safetensors(gpt2_dir() / "model.safetensors"))
    if (n != "transformer.h.1.mlp.c_fc.weight") kept.emplace_back(n, t);
  save_safetensors(dir / "model.safetensors", kept);
  auto message = test::error_of([&] { load_pretrained(dir); });
  EXPECT_NE(message.find("no tensor 'transformer.h.1.mlp.c_fc.weight'"), std::string::npos) << message;
  EXPECT_NE(message.find((dir / "model.safetensors").string()), std::string::npos) << message;
}

TEST(Loading, WrongShapeAndUnsupportedFamilyAreClearErrors) {
  auto dir = test::temp_dir("wrong-shape");
  fs::copy_file(gpt2_dir() / "model.safetensors", dir / "model.safetensors");
  auto config = ConfigJson::load(gpt2_dir() / "config.json").json();
  config["n_inner"] = 128;
  std::ofstream(dir / "config.json") << config.dump();
  auto message = test::error_of([&] { load_pretrained(dir); });
  EXPECT_NE(message.find("'transformer.h.0.mlp.c_fc.weight' has shape [64, 256] but the config needs [64, 128]"),
            std::string::npos)
      << message;

  config["model_type"] = "bert";
  std::ofstream(dir / "config.json") << config.dump();
  message = test::error_of([&] { load_pretrained(dir); });
  EXPECT_NE(message.find("model_type 'bert' is not a supported family"), std::string::npos) << message;
  EXPECT_NE(message.find("gpt2"), std::string::npos) << message;

  message = test::error_of([&] { load_pretrained(dir / "nowhere"); });
  EXPECT_NE(message.find("does not exist"), std::string::npos) << message;
}

TEST(Loading, TokenOutsideVocabularyAndOverlongSequenceAreErrors) {
  auto model = load_pretrained(gpt2_dir());
  auto tokens = torch::zeros({2, 5}, torch::kInt64);
  tokens.index_put_({1, 3}, 512);
  auto message = test::error_of([&] { model(tokens); });
  EXPECT_NE(message.find("token id 512 at [1, 3] is outside the vocabulary (d_vocab 512)"), std::string::npos)
      << message;
  tokens.index_put_({1, 3}, -1);
  EXPECT_NE(test::error_of([&] { model(tokens); }).find("token id -1"), std::string::npos);

  message = test::error_of([&] { model(torch::zeros({1, 65}, torch::kInt64)); });
  EXPECT_NE(message.find("65 tokens is longer than the model's context (n_ctx 64)"), std::string::npos) << message;
  EXPECT_NO_THROW(model(torch::zeros({1, 64}, torch::kInt64)));
}

TEST(Loading, LeftPaddedBatchGivesEachSequenceItsResultAlone) {
  auto model = load_pretrained(gpt2_dir());
  // Row 1 starts with 3 pads (token 0, masked out), as in the Hugging Face fixtures' padded batch.
  auto ids = input_ids();
  ids.index_put_({1, Slice(0, 3)}, 0);
  auto mask = torch::ones({2, 12}, torch::kInt64);
  mask.index_put_({1, Slice(0, 3)}, 0);
  ForwardOptions options;
  options.attention_mask = mask;
  auto batched = model(ids, options);
  auto alone0 = model(ids.index({Slice(0, 1)}));
  auto alone1 = model(ids.index({Slice(1, 2), Slice(3, torch::indexing::None)}));  // row 1 without its 3 pads
  EXPECT_LT(test::max_abs_diff(batched.index({Slice(0, 1)}), alone0), 1e-5);
  EXPECT_LT(test::max_abs_diff(batched.index({Slice(1, 2), Slice(3, torch::indexing::None)}), alone1), 1e-5);
  EXPECT_FALSE(torch::isnan(batched).any().item<bool>());  // padded positions are meaningless but finite
}

TEST(Loading, Bfloat16WeightsHalveMemoryAndStayClose) {
  LoadOptions options;
  options.dtype = torch::kBFloat16;
  auto model = load_pretrained(gpt2_dir(), options);
  EXPECT_EQ(model.weights().W_E.scalar_type(), torch::kBFloat16);
  auto logits = model(input_ids());
  EXPECT_EQ(logits.scalar_type(), torch::kBFloat16);
  auto reference = float32_logits();
  // bfloat16 keeps ~3 significant digits: logits move by a few hundredths at most.
  auto error = (logits.to(torch::kFloat32) - reference).abs();
  EXPECT_LT(error.mean().item<double>(), 0.05);
  auto agree = (logits.argmax(-1) == reference.argmax(-1)).to(torch::kFloat32).mean().item<double>();
  EXPECT_GT(agree, 0.9);
}

TEST(Loading, IncrementalForwardWithKeyValueCacheEqualsFullForward) {
  auto model = load_pretrained(gpt2_dir());
  auto ids = input_ids();
  auto full = model(ids);
  KeyValueCache kv;
  ForwardOptions options;
  options.kv_cache = &kv;
  auto first = model(ids.index({Slice(), Slice(0, 7)}), options);
  auto rest = model(ids.index({Slice(), Slice(7, torch::indexing::None)}), options);
  EXPECT_EQ(kv.length(), 12);
  EXPECT_LT(test::max_abs_diff(torch::cat({first, rest}, 1), full), 1e-5);
}

}  // namespace
}  // namespace arrakis
