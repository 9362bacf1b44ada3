// Hostile input found by hand (issue 11): each once crashed, hung or allocated without bound, and is now a clear
// error naming the file, field or argument.
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <string>

#include <caffe2/serialize/inline_container.h>
#include <sqlite3.h>

#include "arrakis/demo/demo_model.hpp"
#include "arrakis/experiments/experiment_store.hpp"
#include "arrakis/io/checkpoint.hpp"
#include "arrakis/io/config_json.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/io/torch_checkpoint.hpp"
#include "arrakis/model/auto_model.hpp"
#include "arrakis/model/transformer_lens_format.hpp"
#include "arrakis/tokenizer/tokenizer.hpp"
#include "test_support.hpp"

namespace arrakis {
namespace {

std::string config_error(const std::string& family, nlohmann::json fields) {
  HookedAutoConfig config{.name = family};
  config.extra = std::move(fields);
  return test::error_of([&] { config.to_model_config(); });
}

TEST(HostileInput, ZeroHeadsAreAnErrorNotADivisionByZero) {
  auto message = config_error("gpt2", {{"n_head", 0}});
  EXPECT_NE(message.find("'n_head' is 0; it must be between 1 and"), std::string::npos) << message;
  message = config_error("gpt-neo", {{"num_heads", 0}});
  EXPECT_NE(message.find("'num_heads' is 0"), std::string::npos) << message;
  message = config_error("gpt-neox", {{"num_attention_heads", 0}});
  EXPECT_NE(message.find("'num_attention_heads' is 0"), std::string::npos) << message;
  message = config_error("llama", {{"num_attention_heads", -4}});
  EXPECT_NE(message.find("'num_attention_heads' is -4"), std::string::npos) << message;

  nlohmann::json tl = {{"n_layers", 1},
                       {"d_model", 16},
                       {"n_ctx", 8},
                       {"d_head", 0},
                       {"d_vocab", 10},
                       {"attn_only", true},
                       {"normalization_type", nullptr}};
  message = test::error_of([&] { config_from_transformer_lens(ConfigJson(tl, "tl/config.json")); });
  EXPECT_NE(message.find("tl/config.json: 'd_head' is 0"), std::string::npos) << message;
}

TEST(HostileInput, PerLayerIndicesFromAFileAreRangeChecked) {
  for (int first : {-1, -1000}) {
    auto message = config_error("qwen2", {{"use_sliding_window", true}, {"max_window_layers", first}});
    EXPECT_NE(message.find("'max_window_layers' is " + std::to_string(first)), std::string::npos) << message;
  }
  // Past the last layer is Hugging Face's "no layer slides", not an error.
  auto none = HookedAutoConfig{.name = "qwen2", .num_hidden_layers = 2};
  none.extra = {{"use_sliding_window", true}, {"max_window_layers", 50}};
  EXPECT_EQ(none.to_model_config().attn_windows, (std::vector<int64_t>{0, 0}));
  auto message = config_error("mistral", {{"sliding_window", -3}});
  EXPECT_NE(message.find("'sliding_window' is -3"), std::string::npos) << message;
}

TEST(HostileInput, ValuesThatWouldMakeEveryLogitMeaninglessAreRefused) {
  auto message = config_error("llama", {{"rope_theta", 0}});
  EXPECT_NE(message.find("rotary base (rope_theta) must be positive, got 0"), std::string::npos) << message;
  message = config_error("llama", {{"rope_scaling", {{"rope_type", "linear"}, {"factor", 0}}}});
  EXPECT_NE(message.find("rope_scaling factor must be positive"), std::string::npos) << message;
  for (double fraction : {0.0, -0.5, 1.5}) {
    message = config_error("gpt-neox", {{"rotary_pct", fraction}});
    EXPECT_NE(message.find("'rotary_pct' is"), std::string::npos) << fraction << ": " << message;
  }
  message = config_error("stable-lm", {{"partial_rotary_factor", 0.001}});
  EXPECT_NE(message.find("rotates no dimension"), std::string::npos) << message;
  nlohmann::json tl = {{"n_layers", 1},
                       {"d_model", 16},
                       {"n_ctx", 8},
                       {"d_head", 4},
                       {"d_vocab", 10},
                       {"attn_only", true},
                       {"normalization_type", nullptr},
                       {"attn_scale", 0.0}};
  message = test::error_of([&] { config_from_transformer_lens(ConfigJson(tl, "tl/config.json")); });
  EXPECT_NE(message.find("'attn_scale' is 0"), std::string::npos) << message;
  tl["attn_scale"] = -1.0;  // TransformerLens' own spelling of sqrt(d_head)
  EXPECT_EQ(config_from_transformer_lens(ConfigJson(tl, "tl/config.json")).effective_attn_scale(), 2.0);
}

TEST(HostileInput, ARepeatCountCannotMakeALayerListOutgrowTheModel) {
  const auto before = test::peak_rss_bytes();
  auto message = config_error(
      "gpt-neo", nlohmann::json::parse(R"({"num_layers": 2, "attention_types": [[["global"], 2147483648]]})"));
  EXPECT_NE(message.find("attention_types describe more layers but num_layers is 2"), std::string::npos) << message;
  EXPECT_LT(test::peak_rss_bytes() - before, 100ll << 20) << "the repeat count was expanded";
  message = config_error("gpt-neo", {{"attention_types", "global"}});
  EXPECT_NE(message.find("'attention_types' must be a list"), std::string::npos) << message;
}

TEST(HostileInput, IntegersBeyondInt64AreErrorsNotUndefinedBehaviour) {
  for (const char* text : {R"({"n": 1e300})", R"({"n": 18446744073709551615})", R"({"n": -1e19})"}) {
    ConfigJson json(nlohmann::json::parse(text), "config.json");
    auto message = test::error_of([&] { json.get_int("n"); });
    EXPECT_NE(message.find("config.json: 'n'"), std::string::npos) << text << ": " << message;
  }
  EXPECT_EQ(ConfigJson(nlohmann::json::parse(R"({"n": 12.0})"), "c").get_int("n"), 12);
}

TEST(HostileInput, HookNamePatternsCannotOverflowTheStackOrBacktrackForever) {
  auto model = load_demo_model();
  auto tokens = torch::zeros({1, 4}, torch::kInt64);
  const std::string nested = std::string(30000, '(') + "x" + std::string(30000, ')');
  auto message = test::error_of([&] { names_matching(nested); });
  EXPECT_NE(message.find("is not a valid regular expression"), std::string::npos) << message.substr(0, 300);
  std::string deep = std::string(1000, '(') + "x" + std::string(1000, ')');
  message = test::error_of([&] { names_matching(deep); });
  EXPECT_NE(message.find("parentheses are too deeply nested"), std::string::npos) << message;
  // Patterns that backtrack exponentially in a plain engine finish at once: PCRE2 sees they need an 'X' or a '!'.
  for (const char* pattern : {"(.*.*.*.*.*.*.*.*.*.*.*.*)*X", "^(([a-z.0-9_]+)*)+!$"}) {
    const auto start = std::chrono::steady_clock::now();
    auto [logits, cache] = model.run_with_cache(tokens, names_matching(pattern));
    EXPECT_EQ(cache.size(), 0u) << pattern;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10)) << pattern;
  }
  // With those optimisations switched off in the pattern itself, the match budget stops it with a clear error.
  const auto start = std::chrono::steady_clock::now();
  message = test::error_of(
      [&] { model.run_with_cache(tokens, names_matching("(*NO_START_OPT)(*NO_AUTO_POSSESS)^(([a-z.0-9_]+)*)+!$")); });
  EXPECT_NE(message.find("gave up matching"), std::string::npos) << message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  // Ordinary patterns still select what they say.
  auto [logits, cache] = model.run_with_cache(tokens, names_matching("hook_resid_(pre|post)$"));
  EXPECT_EQ(cache.size(), 4u);
}

TEST(HostileInput, CommandLineCountsAndIdListsAreCheckedWithClearMessages) {
  const auto demo = (test::source_dir() / "assets/demo-model").string();
  for (const char* k : {"0", "-1", "abc"}) {
    auto result = test::run_cli("lens --model " + demo + " --input-ids 1,2,3 --top-k " + std::string(k));
    EXPECT_EQ(result.status, 1) << result.output;
    EXPECT_NE(result.output.find("--top-k"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("1 and 1048576"), std::string::npos) << result.output;
    EXPECT_EQ(result.output.find("179769313486231570814527423731704356798070567525844996598917476803157260"),
              std::string::npos)
        << result.output;
  }
  auto result = test::run_cli("heads --model " + demo + " --batch 200000");
  EXPECT_EQ(result.status, 1) << result.output;
  EXPECT_NE(result.output.find("200000 is not between 1 and 4096"), std::string::npos) << result.output;
  result = test::run_cli("generate --model " + demo + " --input-ids 1,2 --seed -1");
  EXPECT_EQ(result.status, 1) << result.output;
  result = test::run_cli("generate --model " + demo + " --input-ids 1,2 --top-p nan");
  EXPECT_EQ(result.status, 1) << result.output;
  EXPECT_NE(result.output.find("'nan' is not a number"), std::string::npos) << result.output;

  // A long id list is a list, not a file name that is too long.
  std::string ids = "0000000001";  // 30 ids in 329 characters: longer than a file name may be
  for (int i = 0; i < 29; ++i) ids += ",0000000002";
  result = test::run_cli("run --model " + demo + " --input-ids " + ids);
  EXPECT_EQ(result.status, 0) << result.output.substr(0, 500);

  // A FIFO is refused at once instead of waiting for a writer.
  auto fifo = test::temp_dir("fifo") / "ids.safetensors";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  result = test::run_cli("run --model " + demo + " --input-ids " + fifo.string() + " < /dev/null");
  EXPECT_EQ(result.status, 1) << result.output;
  EXPECT_NE(result.output.find("not a regular file"), std::string::npos) << result.output;
}

TEST(HostileInput, JsonFilesThatAreFifosAreRefusedInsteadOfWaitedOn) {
  // A FIFO would block the read until a writer came, and a device might never end.
  auto refused = [](const std::string& file, auto&& load) {
    SCOPED_TRACE(file);
    const auto dir = test::temp_dir("fifo-json");
    ASSERT_EQ(::mkfifo((dir / file).c_str(), 0600), 0);
    const auto message = test::arrakis_error_of([&] { load(dir); });
    EXPECT_NE(message.find((dir / file).string() + ": not a regular file"), std::string::npos) << message;
  };
  refused("config.json", [](const auto& dir) { ConfigJson::load(dir / "config.json"); });
  refused("model.safetensors.index.json", [](const auto& dir) { Checkpoint::open(dir); });
  refused("tokenizer.json", [](const auto& dir) { load_tokenizer(dir); });
  refused("tokenizer.model", [](const auto& dir) { load_tokenizer(dir); });
}

// A safetensors file: the 8-byte little-endian header length, the header, then `data` bytes.
std::filesystem::path write_safetensors(const std::string& name, uint64_t declared_length, const std::string& header,
                                        std::size_t data) {
  auto path = test::temp_dir("hostile-st") / name;
  std::ofstream out(path, std::ios::binary);
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((declared_length >> (8 * i)) & 0xff));
  out << header << std::string(data, '\0');
  return path;
}

TEST(HostileInput, SafetensorsSizesCannotWrapAroundOrAllocate) {
  const auto before = test::peak_rss_bytes();
  // [1, 2^61 + 3] int64 elements are 24 bytes modulo 2^64.
  const std::string wrap = R"({"x":{"dtype":"I64","shape":[1,2305843009213693955],"data_offsets":[0,24]}})";
  auto message =
      test::error_of([&] { SafetensorsFile::open(write_safetensors("wrap.safetensors", wrap.size(), wrap, 24)); });
  EXPECT_NE(message.find("fit in 63 bits"), std::string::npos) << message;
  const std::string huge_dim = R"({"x":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,1]}})";
  message = test::error_of(
      [&] { SafetensorsFile::open(write_safetensors("dim.safetensors", huge_dim.size(), huge_dim, 1)); });
  EXPECT_NE(message.find("below 2^63"), std::string::npos) << message;
  // A header that claims 2^63 bytes.
  const auto claims = write_safetensors("claims.safetensors", uint64_t{1} << 63, "{}", 0);
  message = test::error_of([&] { SafetensorsFile::open(claims); });
  EXPECT_NE(message.find(claims.string()), std::string::npos) << message;
  EXPECT_LT(test::peak_rss_bytes() - before, 100ll << 20);
}

TEST(HostileInput, APickleDeclaringAGibibyteIsRefusedBeforeItIsAllocated) {
  auto path = test::temp_dir("hostile-bin") / "pytorch_model.bin";
  {
    caffe2::serialize::PyTorchStreamWriter writer(path.string());
    const std::string pickle = "\x80\x02}q\x00.";  // protocol 2: an empty dict
    writer.writeRecord("data.pkl", pickle.data(), pickle.size());
    writer.writeEndOfFile();
  }
  // Declare 1 GiB uncompressed for data.pkl in the central directory.
  std::string bytes = test::read_bytes(path);
  bool patched = false;
  for (std::size_t at = 0; at + 46 < bytes.size(); ++at) {
    if (bytes.compare(at, 4, "PK\x01\x02") != 0) continue;
    const auto name_length = static_cast<unsigned char>(bytes[at + 28]) | static_cast<unsigned char>(bytes[at + 29])
                                                                              << 8;
    if (bytes.compare(at + 46, name_length, "pytorch_model/data.pkl") != 0 &&
        std::string_view(bytes).substr(at + 46, name_length).find("data.pkl") == std::string_view::npos)
      continue;
    const uint32_t gib = 1u << 30;
    for (int i = 0; i < 4; ++i) bytes[at + 24 + i] = static_cast<char>((gib >> (8 * i)) & 0xff);
    patched = true;
  }
  ASSERT_TRUE(patched);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  const auto before = test::peak_rss_bytes();
  auto message = test::error_of([&] { TorchCheckpointFile::open(path); });
  EXPECT_NE(message.find("data.pkl declares 1073741824 bytes"), std::string::npos) << message;
  EXPECT_LT(test::peak_rss_bytes() - before, 100ll << 20);
}

TEST(HostileInput, NormalizersCannotGrowTextWithoutBound) {
  const auto before = test::peak_rss_bytes();
  nlohmann::json steps = nlohmann::json::array();
  for (int i = 0; i < 40; ++i)
    steps.push_back({{"type", "Replace"}, {"pattern", {{"String", "a"}}}, {"content", "aa"}});
  nlohmann::json file = {{"version", "1.0"},
                         {"added_tokens", nlohmann::json::array()},
                         {"normalizer", {{"type", "Sequence"}, {"normalizers", steps}}},
                         {"pre_tokenizer", nullptr},
                         {"post_processor", nullptr},
                         {"decoder", nullptr},
                         {"model", {{"type", "BPE"}, {"vocab", {{"a", 0}}}, {"merges", nlohmann::json::array()}}}};
  auto dir = test::temp_dir("hostile-normalizer");
  std::ofstream(dir / "tokenizer.json") << file.dump();
  auto tokenizer = load_tokenizer(dir);
  const auto start = std::chrono::steady_clock::now();
  auto message = test::error_of([&] { tokenizer->encode("aaaa"); });
  EXPECT_NE(message.find("normalizer grew a text of 4 bytes"), std::string::npos) << message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_LT(test::peak_rss_bytes() - before, 100ll << 20);

  // A megabyte Prepend.
  file["normalizer"] = {{"type", "Prepend"}, {"prepend", std::string(1 << 20, 'a')}};
  std::ofstream(dir / "tokenizer.json", std::ios::trunc) << file.dump();
  tokenizer = load_tokenizer(dir);
  message = test::error_of([&] { tokenizer->encode("a"); });
  EXPECT_NE(message.find("normalizer grew"), std::string::npos) << message;
}

TEST(HostileInput, ReadingTheExperimentStoreNeverWritesAndExportNeverReplacesIt) {
  const auto cli = [](const std::string& args) { return test::run_cli("experiments " + args); };
  // A 0-byte file is not turned into a database by a read.
  auto empty = test::temp_dir("store-empty");
  std::ofstream(empty / "experiments.sqlite").flush();
  auto result = cli("list --save-dir " + empty.string());
  EXPECT_EQ(result.status, 1) << result.output;
  EXPECT_NE(result.output.find("is empty"), std::string::npos) << result.output;
  EXPECT_EQ(std::filesystem::file_size(empty / "experiments.sqlite"), 0u);
  // A missing folder is not created.
  result = cli("list --save-dir " + (empty / "nothing-here").string());
  EXPECT_EQ(result.status, 1) << result.output;
  EXPECT_FALSE(std::filesystem::exists(empty / "nothing-here"));

  auto dir = test::temp_dir("store-export");
  {
    ExperimentStore store(dir);
    auto id = store.begin_run({.experiment = "e", .source = "int e() { return 1; }"});
    store.finish_run(id, {{"value", 1}});
  }
  const auto db = dir / "experiments.sqlite";
  for (const auto& target : {db, std::filesystem::path(dir.string() + "/./experiments.sqlite")}) {
    result = cli("export --save-dir " + dir.string() + " --out " + target.string());
    EXPECT_EQ(result.status, 1) << result.output;
    EXPECT_NE(result.output.find("would replace it"), std::string::npos) << result.output;
  }
  EXPECT_EQ(ExperimentStore(dir, StoreAccess::ReadOnly).runs("e").size(), 1u) << "the database was damaged";

  // A column another tool wrote as plain text stays valid JSON (a string) in exports.
  sqlite3* handle = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &handle), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(handle, "UPDATE runs SET results = 'not json {'", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(handle);
  result = test::run_cli("experiments runs e --json --save-dir " + dir.string(), /*merge_stderr=*/false);
  ASSERT_EQ(result.status, 0) << result.output;
  auto json = nlohmann::json::parse(result.output);
  EXPECT_EQ(json["runs"][0]["results"], "not json {");
}

TEST(HostileInput, ControlCharactersFromFilesAreNotSentToTheTerminal) {
  auto dir = test::temp_dir("store-escapes");
  {
    ExperimentStore store(dir);
    auto id = store.begin_run({.experiment = "evil\x1b]0;owned\x07\xc2\x9b"
                                             "2J",
                               .source = "x"});
    store.finish_run(id, {{"note", "\x1b[31mred"}});
  }
  for (const char* command : {"list",
                              "runs 'evil\x1b]0;owned\x07\xc2\x9b"
                              "2J'"}) {
    auto result = test::run_cli(std::string("experiments ") + command + " --save-dir " + dir.string());
    EXPECT_EQ(result.output.find('\x1b'), std::string::npos) << command;
    EXPECT_EQ(result.output.find('\x07'), std::string::npos) << command;
    EXPECT_EQ(result.output.find("\xc2\x9b"), std::string::npos) << command;
  }
  auto result = test::run_cli("experiments list --save-dir " + dir.string());
  EXPECT_NE(result.output.find("evil\\x1b]0;owned\\x07\\u{9b}2J"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace arrakis
