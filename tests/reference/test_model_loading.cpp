// Loading checkpoints in every supported layout, dtypes, padding, and the errors bad input gets.
#include <fstream>

#include "arrakis/io/checkpoint.hpp"
#include "arrakis/io/config_json.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/loading.hpp"
#include "test_support.hpp"

namespace arrakis {
namespace {

namespace fs = std::filesystem;
using torch::indexing::Slice;

fs::path gpt2_dir() { return test::shared_dir() / "fixtures/hf/gpt2"; }
torch::Tensor expected(const std::string& name) {
  return SafetensorsFile::open(gpt2_dir() / "expected.safetensors")->tensor(name);
}

TEST(Loading, ShardedSafetensorsThroughTheIndex) {
  ARRAKIS_REQUIRE_SHARED();
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
  EXPECT_LT(test::max_abs_diff(model(expected("input_ids")), expected("logits")), 1e-4);

  // An index naming a shard that is not there.
  index["weight_map"]["transformer.wte.weight"] = "model-00003-of-00002.safetensors";
  std::ofstream(dir / "model.safetensors.index.json") << index.dump();
  auto message = test::error_of([&] { load_pretrained(dir); });
  EXPECT_NE(message.find("model-00003-of-00002.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("does not exist"), std::string::npos) << message;
}

TEST(Loading, PytorchModelBinWrittenByTorchSave) {
  ARRAKIS_REQUIRE_SHARED();
  auto dir = test::source_dir() / "tests/data/torch_checkpoints/gpt2";
  ASSERT_TRUE(fs::exists(dir / "pytorch_model.bin"));
  auto model = load_pretrained(dir);
  EXPECT_LT(test::max_abs_diff(model(expected("input_ids")), expected("logits")), 1e-4);
}

TEST(Loading, MissingTensorIsAnErrorNamingTensorAndFile) {
  ARRAKIS_REQUIRE_SHARED();
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
  ARRAKIS_REQUIRE_SHARED();
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
  ARRAKIS_REQUIRE_SHARED();
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
  ARRAKIS_REQUIRE_SHARED();
  auto model = load_pretrained(gpt2_dir());
  auto ids = expected("pad.input_ids");
  auto mask = expected("pad.attention_mask");
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
  ARRAKIS_REQUIRE_SHARED();
  LoadOptions options;
  options.dtype = torch::kBFloat16;
  auto model = load_pretrained(gpt2_dir(), options);
  EXPECT_EQ(model.weights().W_E.scalar_type(), torch::kBFloat16);
  auto logits = model(expected("input_ids"));
  EXPECT_EQ(logits.scalar_type(), torch::kBFloat16);
  auto reference = expected("logits");
  // bfloat16 keeps ~3 significant digits: logits of magnitude ~10 move by a few hundredths.
  auto error = (logits.to(torch::kFloat32) - reference).abs();
  EXPECT_LT(error.mean().item<double>(), 0.05);
  auto agree = (logits.argmax(-1) == reference.argmax(-1)).to(torch::kFloat32).mean().item<double>();
  EXPECT_GT(agree, 0.9);
}

TEST(Loading, IncrementalForwardWithKeyValueCacheEqualsFullForward) {
  ARRAKIS_REQUIRE_SHARED();
  auto model = load_pretrained(gpt2_dir());
  auto ids = expected("input_ids");
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
