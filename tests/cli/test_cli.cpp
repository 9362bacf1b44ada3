// The `arrakis` command end to end: what a user (or another language reading its files) sees.
#include <torch/cuda.h>
#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/generation.hpp"
#include "arrakis/model/loading.hpp"
#include "arrakis/util/seeded_generator.hpp"
#include "gpt2_vocabulary.hpp"
#include "test_support.hpp"
#include "unit/random_models.hpp"

namespace arrakis {
namespace {

using test::run_cli;

TEST(Cli, TokenizePrintsIdsAndJson) {
  ARRAKIS_REQUIRE_GPT2_VOCABULARY();
  auto dir = test::gpt2_vocabulary_dir().string();
  // "Hello world!" is 15496, 995, 0 in GPT-2 (OpenAI's encoder, as in ../shared's GPT-2 fixture cases).
  auto plain = run_cli("tokenize --model " + dir + " --text 'Hello world!'");
  ASSERT_EQ(plain.status, 0) << plain.output;
  EXPECT_EQ(plain.output, "15496 995 0\n");
  auto json = run_cli("tokenize --model " + dir + " --text 'Hello world!' --json");
  ASSERT_EQ(json.status, 0) << json.output;
  auto parsed = nlohmann::json::parse(json.output);
  EXPECT_EQ(parsed["ids"], nlohmann::json({15496, 995, 0}));
  EXPECT_EQ(parsed["tokens"], nlohmann::json({"Hello", " world", "!"}));
}

TEST(Cli, RunWritesLogitsAndActivationsOtherToolsCanRead) {
  auto model_dir = test::saved_random_model("gpt2");
  auto dir = test::temp_dir("cli-run");
  // A batch from a safetensors file, as another language would write it.
  auto tokens = torch::randint(512, {2, 12}, seeded_generator(2), torch::kInt64);
  save_safetensors(dir / "ids.safetensors", {{"input_ids", tokens}});
  auto out = dir / "acts.safetensors";
  auto result = run_cli("run --model " + model_dir.string() + " --input-ids " + (dir / "ids.safetensors").string() +
                        " --out " + out.string() + " --top-k 3");
  ASSERT_EQ(result.status, 0) << result.output;
  EXPECT_NE(result.output.find("sequence 0"), std::string::npos) << result.output;
  auto file = SafetensorsFile::open(out);
  // The model's logits for the batch, as the library computes them from the same folder.
  EXPECT_LT(test::max_abs_diff(file->tensor("logits"), load_pretrained(model_dir)(tokens)), 1e-4);
  EXPECT_TRUE(torch::equal(file->tensor("input_ids"), tokens));
  EXPECT_TRUE(file->contains("blocks.1.attn.hook_pattern"));
  EXPECT_TRUE(file->contains("hook_pos_embed"));

  // Comma-separated ids and a names filter.
  result = run_cli("run --model " + model_dir.string() + " --input-ids 1,2,3,1,2 --names 'resid_post$' --out " +
                   out.string());
  ASSERT_EQ(result.status, 0) << result.output;
  file = SafetensorsFile::open(out);
  EXPECT_EQ(file->names().size(), 4u);  // input_ids, logits, two resid_post
}

TEST(Cli, BadInputIsAClearErrorAndExitStatusOne) {
  auto model_dir = (test::source_dir() / "assets/demo-model").string();  // 128 tokens, no tokenizer
  auto result = run_cli("run --model " + model_dir + " --input-ids 1,2,999");
  EXPECT_EQ(result.status, 1);
  EXPECT_NE(result.output.find("token id 999 at [0, 2] is outside the vocabulary"), std::string::npos) << result.output;
  result = run_cli("run --model " + model_dir + " --input-ids 1,x");
  EXPECT_EQ(result.status, 1);
  EXPECT_NE(result.output.find("'x' is not an integer"), std::string::npos) << result.output;
  result = run_cli("run --model " + model_dir + " --prompt 'hi'");
  EXPECT_EQ(result.status, 1);
  EXPECT_NE(result.output.find("has no tokenizer"), std::string::npos) << result.output;
}

// --dtype and --device, shared by every model-loading command: a half-precision run works; an absent device and an
// unknown dtype are clear errors naming the option (Debian's LibTorch has no CUDA; with a CUDA LibTorch and no GPU the
// message is the same).
TEST(Cli, DtypeAndDeviceOptions) {
  const auto model_dir = (test::source_dir() / "assets/demo-model").string();
  auto half = run_cli("run --model " + model_dir + " --input-ids 0,5,6,7,0,5,6 --dtype bfloat16 --top-k 1");
  ASSERT_EQ(half.status, 0) << half.output;
  EXPECT_NE(half.output.find("next token after position 6"), std::string::npos) << half.output;
  if (!torch::cuda::is_available()) {
    auto cuda = run_cli("run --model " + model_dir + " --input-ids 1,2 --device cuda");
    EXPECT_EQ(cuda.status, 1);
    EXPECT_NE(cuda.output.find("--device cuda: no CUDA device is available"), std::string::npos) << cuda.output;
  }
  auto index = run_cli("heads --model " + model_dir + " --device cuda:x");
  EXPECT_EQ(index.status, 1);
  EXPECT_NE(index.output.find("the CUDA device index must be a number"), std::string::npos) << index.output;
  auto dtype = run_cli("lens --model " + model_dir + " --input-ids 1,2 --dtype int8");
  EXPECT_EQ(dtype.status, 1);
  EXPECT_NE(dtype.output.find("--dtype \"int8\": not a dtype"), std::string::npos) << dtype.output;
  auto demo = run_cli("demo --device tpu");
  EXPECT_EQ(demo.status, 1);
  EXPECT_NE(demo.output.find("--device \"tpu\": unknown device (use cpu, cuda or cuda:N)"), std::string::npos)
      << demo.output;
}

TEST(Cli, DemoRunsWithNoArguments) {
  auto result = run_cli("demo --save-dir " + test::temp_dir("cli-demo").string());
  ASSERT_EQ(result.status, 0) << result.output;
  EXPECT_NE(result.output.find("strongest induction head"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("Activation cache"), std::string::npos) << result.output;
}

TEST(Cli, BenchForwardPrintsTheAgreedJsonFields) {
  auto result = run_cli(
      "bench forward --json --layers 1 --d-model 64 --heads 4 --d-mlp 256 --vocab 512 --batch 2 "
      "--seq 16 --repeats 1");
  ASSERT_EQ(result.status, 0) << result.output;
  auto json = nlohmann::json::parse(result.output.substr(result.output.rfind("\n{") + 1));
  for (const char* key :
       {"forward_tokens_per_s", "cache_tokens_per_s", "forward_gflops", "sgemm_gflops", "peak_rss_mb"})
    EXPECT_GT(json.at(key).get<double>(), 0.0) << key;
}

TEST(Cli, GenerateContinuesAPromptGreedilyAndAsJson) {
  ARRAKIS_REQUIRE_SHARED();
  const auto dir = (test::shared_dir() / "models/stories260K").string();
  auto text = run_cli("generate --model " + dir + " --prompt 'Once upon a time' --max-new-tokens 12 --greedy");
  ASSERT_EQ(text.status, 0) << text.output;
  EXPECT_TRUE(text.output.starts_with("Once upon a time, there was a little girl named Lily.")) << text.output;

  auto json = run_cli("generate --model " + dir + " --input-ids 1 --max-new-tokens 11 --greedy --json");
  ASSERT_EQ(json.status, 0) << json.output;
  auto parsed = nlohmann::json::parse(json.output);
  EXPECT_EQ(parsed["tokens"][0], nlohmann::json({1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315}));
  EXPECT_EQ(parsed["prompt_length"], 1);

  // Sampling is reproducible for a seed.
  auto a = run_cli("generate --model " + dir + " --input-ids 1 --max-new-tokens 8 --temperature 1 --seed 5 --json");
  auto b = run_cli("generate --model " + dir + " --input-ids 1 --max-new-tokens 8 --temperature 1 --seed 5 --json");
  ASSERT_EQ(a.status, 0) << a.output;
  EXPECT_EQ(a.output, b.output);
}

TEST(Cli, BenchLoadMeasuresFloat32AndBfloat16InChildProcesses) {
  auto result = run_cli("bench load --layers 2 --d-model 256 --heads 8 --vocab 4096 --json");
  ASSERT_EQ(result.status, 0) << result.output;
  // stderr's progress lines come along: the object is the line that starts with '{'.
  const auto start = result.output.starts_with("{") ? 0 : result.output.find("\n{") + 1;
  auto parsed = nlohmann::json::parse(result.output.substr(start, result.output.find('\n', start) - start));
  for (const char* key : {"file_mb", "float32_peak_over_file", "bfloat16_resident_ratio"})
    EXPECT_TRUE(parsed.contains(key)) << key;
  EXPECT_GT(parsed["file_mb"].get<double>(), 10.0);
  EXPECT_EQ(parsed["float32"]["dtype"], "float32");
  // The bfloat16 model's parameters are half the float32 ones (a fact about the weights, not a timing).
  EXPECT_NEAR(parsed["bfloat16"]["weights_mb"].get<double>() / parsed["float32"]["weights_mb"].get<double>(), 0.5,
              1e-6);
}

}  // namespace
}  // namespace arrakis

namespace arrakis {
namespace {

TEST(Cli, GenerateOnTheDemoModelIsTheLibrarysGenerateAndSeeded) {
  const auto dir = (test::source_dir() / "assets/demo-model").string();
  auto json = test::run_cli("generate --model " + dir + " --input-ids 5,6,7,8,5,6 --max-new-tokens 6 --greedy --json",
                            /*merge_stderr=*/false);
  ASSERT_EQ(json.status, 0) << json.output;
  auto parsed = nlohmann::json::parse(json.output);
  auto model = load_pretrained(dir);
  auto expected =
      generate(model, torch::tensor({{5, 6, 7, 8, 5, 6}}, torch::kLong), {.max_new_tokens = 6, .temperature = 0.0});
  auto row = expected.tokens[0].contiguous();
  EXPECT_EQ(parsed["tokens"][0].get<std::vector<int64_t>>(),
            std::vector<int64_t>(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel()));
  EXPECT_EQ(parsed["prompt_length"], 6);
  auto a =
      test::run_cli("generate --model " + dir + " --input-ids 1 --max-new-tokens 8 --temperature 1 --seed 5 --json");
  auto b =
      test::run_cli("generate --model " + dir + " --input-ids 1 --max-new-tokens 8 --temperature 1 --seed 5 --json");
  ASSERT_EQ(a.status, 0) << a.output;
  EXPECT_EQ(a.output, b.output);
  // Without a tokenizer the text report lists the ids.
  auto text = test::run_cli("generate --model " + dir + " --input-ids 5,6,7,8,5,6 --max-new-tokens 2 --greedy");
  ASSERT_EQ(text.status, 0) << text.output;
  EXPECT_NE(text.output.find("sequence 0: 5,6,7,8,5,6,"), std::string::npos) << text.output;
}

TEST(Cli, ToolsListsTheSeedToolsWithTheirMethods) {
  auto result = test::run_cli("tools --json", /*merge_stderr=*/false);
  ASSERT_EQ(result.status, 0) << result.output;
  auto parsed = nlohmann::json::parse(result.output);
  std::map<std::string, std::vector<std::string>> methods;
  for (const auto& tool : parsed["tools"])
    for (const auto& m : tool["methods"]) methods[tool["key"]].push_back(m["name"]);
  for (const char* key :
       {"write_read", "residual", "decomposer", "logit", "logit_lens", "attention", "composer", "causal"})
    EXPECT_FALSE(methods[key].empty()) << key << " lists no methods";
  EXPECT_EQ(methods["causal"], (std::vector<std::string>{"trace_token_probability", "intervene_on_neuron"}));
  auto text = test::run_cli("tools");
  EXPECT_NE(text.output.find("--direction      dim:N|token:ID|head:L.H"), std::string::npos) << text.output;
}

TEST(Cli, EveryToolMethodRunsFromTheShell) {
  const auto model = test::saved_random_model("gpt2").string();
  const auto dir = test::temp_dir("cli-tools");
  {  // a noise file for the causal trace: [samples 2, subject length 2, d_model 64]
    save_safetensors(dir / "noise.safetensors", {{"noise", torch::ones({2, 2, 64}) * 0.1}});
    save_safetensors(dir / "batch.safetensors", {{"input_ids", torch::tensor({{5, 6, 7}, {8, 9, 10}}, torch::kLong)}});
  }
  const std::string ids = " --input-ids 5,6,7,8,5,6,7";
  const std::vector<std::string> calls = {
      "write_read identify_write_heads --layer 1",
      "write_read identify_write_heads --layer 1 --threshold 1" + ids,
      "write_read identify_read_heads --layer 1 --direction head:0.2 --via k",
      "write_read identify_read_heads --layer 0 --direction token:17 --via v --threshold 1",
      "write_read trace_information_flow --source 2 --destination 6" + ids,
      "residual residual_decomposition --layer 1 --per-head true" + ids,
      "residual residual_movement --layer1 -1 --layer2 1" + ids,
      "residual feature_attribution --target 9 --steps 8" + ids,
      "residual feature_attribution --target 9 --method gradient_x_input" + ids,
      "residual feature_attribution --metric logit-diff:9,10 --baseline token:3 --steps 4" + ids,
      "decomposer mlp_basis --layer 0 --top-k 3",
      "decomposer decompose_residual --layer 1 --top-k 4" + ids,
      "logit logit_attribution --target 9 --wrong 10 --neurons true" + ids,
      "logit track_token_circulation --target 9" + ids,
      "logit_lens layer_attributions --target 9" + ids,
      "logit_lens logit_lens --target 9 --layer 1" + ids,
      "attention attention_patterns --layer 1 --head 2" + ids,
      "attention top_attended_ids --layer 1 --head 2 --num-tokens 2" + ids,
      "attention attention_entropy" + ids,
      "attention ablate_head --layer 1 --head 0 --how resample --seed 2 --input-ids " +
          (dir / "batch.safetensors").string(),
      "attention merge_heads --layer 0 --head1 0 --head2 1 --alpha 0.3" + ids,
      "composer head_composition --head1 L0H1 --head2 L1H3",
      "composer virtual_weights --head1 0.1 --head2 1.3 --kind q",
      "composer attention_path_patching --clean 5,6,7,8 --corrupted 5,9,7,8 --src-head L0H1 --dest-head L1H2 --via v "
      "--metric logit-diff:3,4",
      "causal trace_token_probability --target 9 --subject 1,3 --kind mlp --window 2 --noise " +
          (dir / "noise.safetensors").string() + ids,
      "causal intervene_on_neuron --layer 1 --neuron 3 --scale 0 --target 9" + ids,
  };
  for (const auto& call : calls) {
    auto out = dir / "out.safetensors";
    std::filesystem::remove(out);
    auto result = test::run_cli("tool " + call + " --model " + model + " --json --out " + out.string(),
                                /*merge_stderr=*/false);
    ASSERT_EQ(result.status, 0) << call << "\n" << result.output;
    EXPECT_TRUE(nlohmann::json::parse(result.output).is_object()) << call;
    if (std::filesystem::exists(out)) {
      auto file = SafetensorsFile::open(out);
      EXPECT_FALSE(file->names().empty()) << call;
    }
  }
  auto bad = test::run_cli("tool attention attention_patterns --layer 1 --head 9" + ids + " --model " + model);
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.output.find("head 9 is not a head of layer 1 (0..3)"), std::string::npos) << bad.output;
  bad = test::run_cli("tool attention attention_patterns --layer 1 --head 2 --model " + model);
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.output.find("needs the argument 'tokens'"), std::string::npos) << bad.output;
  bad = test::run_cli("tool attention attention_patterns 1" + ids + " --model " + model);
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.output.find("'1' is not an --argument"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace arrakis
