#include "fuzz_entries.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>

#include "arrakis/error.hpp"
#include "arrakis/experiments/experiment_store.hpp"
#include "arrakis/io/checkpoint.hpp"
#include "arrakis/io/config_json.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/io/torch_checkpoint.hpp"
#include "arrakis/model/config.hpp"
#include "arrakis/model/llama2c_format.hpp"
#include "arrakis/model/transformer_lens_format.hpp"
#include "arrakis/tokenizer/tokenizer.hpp"
#include "cli/input_ids.hpp"
#include "io/pickle_reader.hpp"
#include "model/families/model_family.hpp"
#include "unit/llama2c_files.hpp"

namespace arrakis::fuzz {

namespace {

namespace fs = std::filesystem;
using Bytes = std::span<const uint8_t>;

// ---- scratch files: the parsers read paths, as they do for a user's downloads --------------------------------------

// One folder per process and entry (tmpfs when TMPDIR points there), removed at exit.
const fs::path& scratch_root() {
  static const fs::path root = [] {
    fs::path dir = fs::temp_directory_path() / ("arrakis-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::atexit([] {
      std::error_code ignored;
      fs::remove_all(scratch_root(), ignored);
    });
    return dir;
  }();
  return root;
}

fs::path scratch(std::string_view entry) {
  fs::path dir = scratch_root() / entry;
  fs::create_directories(dir);
  return dir;
}

// Writes `bytes` as dir/name, or removes dir/name when there are none (a part the input does not have).
fs::path put(const fs::path& dir, const std::string& name, std::optional<std::string_view> bytes) {
  fs::path file = dir / name;
  if (!bytes) {
    fs::remove(file);
    return file;
  }
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
  if (!out) throw std::runtime_error("fuzz: cannot write " + file.string());
  return file;
}

std::string_view text_of(Bytes bytes) { return {reinterpret_cast<const char*>(bytes.data()), bytes.size()}; }

// Inputs made of several files are separated by NUL bytes (which none of those text formats may contain).
std::vector<std::string_view> parts(Bytes bytes) {
  std::vector<std::string_view> out;
  std::string_view rest = text_of(bytes);
  while (true) {
    auto nul = rest.find('\0');
    out.push_back(rest.substr(0, nul));
    if (nul == std::string_view::npos) return out;
    rest.remove_prefix(nul + 1);
  }
}

std::optional<std::string_view> part(const std::vector<std::string_view>& all, std::size_t i) {
  if (i < all.size()) return all[i];
  return std::nullopt;
}

// ---- using what a parser returned ----------------------------------------------------------------------------------

// Reads every byte a tensor views, in instrumented code (LibTorch's own loops are not instrumented), after checking
// that the view lies inside its storage: a tensor reaching outside its file is a bug even where ASan cannot see it.
void touch(const torch::Tensor& tensor) {
  if (!tensor.defined() || tensor.numel() == 0) return;
  int64_t low = 0, high = 0;  // element offsets of the view's extremes, from its first element
  for (int64_t d = 0; d < tensor.dim(); ++d) {
    const int64_t reach = (tensor.size(d) - 1) * tensor.stride(d);
    (reach < 0 ? low : high) += reach;
  }
  const int64_t item = static_cast<int64_t>(tensor.element_size());
  const int64_t first = (tensor.storage_offset() + low) * item, end = (tensor.storage_offset() + high + 1) * item;
  if (first < 0 || end > static_cast<int64_t>(tensor.storage().nbytes())) {
    std::fprintf(stderr, "fuzz: a tensor views bytes [%lld, %lld) of a %zu-byte storage\n",
                 static_cast<long long>(first), static_cast<long long>(end), tensor.storage().nbytes());
    std::abort();
  }
  const auto* base = static_cast<const volatile uint8_t*>(tensor.storage().data()) + first;
  uint8_t sum = 0;
  for (int64_t i = 0; i < end - first; ++i) sum += base[i];
  (void)sum;
}

const char* const kTexts[] = {
    "Hello world! The quick brown fox, 1234567890.",
    "  leading and trailing spaces  \n\ttabs\r\n",
    "Ünïcödé: 日本語のテキスト, emoji 🤗🦀, Ελληνικά, ﬁ ligature, e\u0301",
    "<|endoftext|><s></s>[CLS] special-looking text",
    "",
};

void exercise(const Tokenizer& tokenizer, std::optional<std::string_view> text) {
  std::vector<std::string_view> texts(std::begin(kTexts), std::end(kTexts));
  if (text) texts.push_back(*text);
  for (std::string_view t : texts) {
    std::vector<int64_t> ids = tokenizer.encode(t);
    (void)tokenizer.decode(ids);
    (void)tokenizer.decode(ids, /*skip_special=*/true);
    (void)tokenizer.token_to_id(t.substr(0, 3));
  }
  const int64_t n = std::min<int64_t>(tokenizer.vocab_size(), 64);
  for (int64_t id = 0; id < n; ++id) (void)tokenizer.id_to_token(id);
  (void)tokenizer.describe();
  (void)tokenizer.special_tokens();
}

// ---- the entries ---------------------------------------------------------------------------------------------------

void safetensors_file(Bytes bytes) {
  auto file = SafetensorsFile::from_bytes(std::as_bytes(bytes), "fuzz.safetensors");
  for (const std::string& name : file->names()) touch(file->tensor(name));
}

// An index JSON over two fixed shards ("a", "b" in the first; "c" in the second).
void safetensors_index(Bytes bytes) {
  const fs::path dir = scratch("safetensors_index");
  static const bool shards = [&] {
    save_safetensors(
        dir / "model-00001-of-00002.safetensors",
        {{"a", torch::arange(6, torch::kFloat32).reshape({2, 3})}, {"b", torch::ones({4}, torch::kInt64)}});
    save_safetensors(dir / "model-00002-of-00002.safetensors", {{"c", torch::zeros({3, 1}, torch::kBFloat16)}});
    return true;
  }();
  (void)shards;
  put(dir, "model.safetensors.index.json", text_of(bytes));
  auto checkpoint = Checkpoint::open(dir);
  (void)checkpoint->describe();
  for (const std::string& name : checkpoint->names())
    if (checkpoint->contains(name)) touch(checkpoint->get(name));
}

void use(const ModelConfig& config) {
  config.validate();
  for (int64_t layer = 0; layer < config.n_layers; ++layer) (void)config.attn_window(layer);
  (void)config.effective_attn_scale();
}

// config.json through every family's reader (whatever its model_type names) and the TransformerLens reader.
void model_config(Bytes bytes) {
  const fs::path file = put(scratch("config"), "config.json", text_of(bytes));
  const ConfigJson json = ConfigJson::load(file);
  for (const ModelFamily& family : model_families()) {
    try {
      use(family.read_config(json));
    } catch (const Error&) {
    }
  }
  if (is_transformer_lens_config(json)) use(config_from_transformer_lens(json));
  if (json.has("model_type")) (void)family_for_model_type(json.get_string("model_type"), json.source());
}

void torch_checkpoint(Bytes bytes) {
  auto file = TorchCheckpointFile::open(put(scratch("torch_checkpoint"), "pytorch_model.bin", text_of(bytes)));
  for (const std::string& name : file->names()) touch(file->tensor(name));
}

void pickle(Bytes bytes) {
  for (const detail::PickledTensor& tensor : detail::read_state_dict_pickle(std::as_bytes(bytes), "fuzz/data.pkl"))
    (void)tensor.name;
}

void llama2c_model(Bytes bytes) {
  const fs::path file = put(scratch("llama2c_model"), "model.bin", text_of(bytes));
  (void)is_llama2c_checkpoint(file);
  auto [config, weights] = load_llama2c(file, torch::kFloat32, torch::kCPU);
  for (const auto& [name, tensor] : weights.named_parameters(config)) touch(tensor);
}

void llama2c_tokenizer(Bytes bytes) {
  const fs::path dir = scratch("llama2c_tokenizer");
  put(dir, "tokenizer.bin", text_of(bytes));
  exercise(*load_tokenizer(dir), std::nullopt);
}

// tokenizer.json NUL text-to-encode NUL tokenizer_config.json (the last two optional).
void tokenizer_json(Bytes bytes) {
  const fs::path dir = scratch("tokenizer_json");
  const auto all = parts(bytes);
  put(dir, "tokenizer.json", all[0]);
  put(dir, "tokenizer_config.json", part(all, 2));
  exercise(*load_tokenizer(dir), part(all, 1));
}

// vocab.json NUL merges.txt NUL text-to-encode (the text optional).
void bpe_files(Bytes bytes) {
  const fs::path dir = scratch("bpe_files");
  const auto all = parts(bytes);
  put(dir, "vocab.json", all[0]);
  put(dir, "merges.txt", part(all, 1).value_or(""));
  exercise(*load_tokenizer(dir), part(all, 2));
}

// The bytes as experiments.sqlite, opened read-only as `arrakis experiments ...` does, and read in every way.
void experiment_store(Bytes bytes) {
  const fs::path dir = scratch("experiment_store");
  put(dir, "experiments.sqlite", text_of(bytes));
  for (const char* journal : {"experiments.sqlite-journal", "experiments.sqlite-wal", "experiments.sqlite-shm"})
    put(dir, journal, std::nullopt);
  ExperimentStore store(dir, StoreAccess::ReadOnly);
  (void)store.integrity_check();
  (void)store.run_count();
  (void)store.export_json().dump();
  for (const ExperimentSummary& experiment : store.summary()) {
    for (const RunRecord& run : store.runs(experiment.name)) {
      (void)nlohmann::json(run).dump();
      for (const auto& [name, value] : run.results.items())
        if (value.is_object() && value.contains("$tensor")) {
          try {
            touch(store.load_tensor(value));
          } catch (const Error&) {  // the tensor files are not part of the input
          }
        }
    }
    if (experiment.versions.size() >= 2)
      (void)store.diff(experiment.name, experiment.versions.front().hash, experiment.versions.back().hash);
  }
  for (int64_t id = 1; id <= 3; ++id) {
    try {
      (void)store.run(id);
    } catch (const Error&) {
    }
  }
}

// --input-ids: the bytes as an id list (unless they would name a file), and as a .safetensors file.
void input_ids(Bytes bytes) {
  const std::string spec(text_of(bytes));
  std::error_code ec;
  if (spec.find('\0') == std::string::npos && spec.find('/') == std::string::npos && !spec.ends_with(".safetensors") &&
      !fs::exists(spec, ec)) {
    try {
      (void)cli::parse_input_ids(spec);
    } catch (const Error&) {
    }
  }
  auto input = cli::parse_input_ids(put(scratch("input_ids"), "ids.safetensors", text_of(bytes)).string());
  touch(input.input_ids);
  touch(input.attention_mask);
}

// ---- seeds made by the project's own writers ----------------------------------------------------------------------

void write_text(const fs::path& file, std::string_view text) {
  put(file.parent_path(), file.filename().string(), text);
}

void safetensors_seeds(const fs::path& dir) {
  NamedTensors tensors;
  for (torch::Dtype dtype : {torch::kFloat32, torch::kFloat16, torch::kBFloat16, torch::kFloat64, torch::kInt64,
                             torch::kInt32, torch::kInt16, torch::kInt8, torch::kUInt8, torch::kBool})
    tensors.emplace_back(safetensors_dtype_name(dtype), torch::arange(6).reshape({2, 3}).to(dtype));
  tensors.emplace_back("scalar", torch::tensor(1.5));
  tensors.emplace_back("empty", torch::zeros({0, 4}));
  save_safetensors(dir / "dtypes.safetensors", tensors, {{"format", "pt"}});
  save_safetensors(dir / "one.safetensors", {{"w", torch::ones({3})}});
}

void safetensors_index_seeds(const fs::path& dir) {
  write_text(dir / "index.json",
             R"({"metadata": {"total_size": 46}, "weight_map": {"a": "model-00001-of-00002.safetensors",)"
             R"( "b": "model-00001-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"}})");
}

void llama2c_model_seeds(const fs::path& dir) {
  test::write_llama2c_checkpoint(
      dir / "shared.bin",
      {.dim = 8, .hidden_dim = 12, .n_layers = 1, .n_heads = 2, .n_kv_heads = 1, .vocab_size = 16, .seq_len = 4});
  test::write_llama2c_checkpoint(
      dir / "unshared.bin",
      {.dim = 8, .hidden_dim = 12, .n_layers = 2, .n_heads = 2, .n_kv_heads = 2, .vocab_size = -10, .seq_len = 3});
}

void llama2c_tokenizer_seeds(const fs::path& dir) { test::write_small_llama2c_tokenizer(dir / "tokenizer.bin"); }

// A store with two versions of an experiment, a finished run with a tensor and a tool call, and a failed run.
void experiment_store_seeds(const fs::path& dir) {
  const fs::path save_dir = scratch("experiment_store_seed");
  fs::remove_all(save_dir);
  {
    ExperimentStore store(save_dir);
    for (const char* source : {"int main() { return 0; }\n", "int main() {\n  return 1;\n}\n"}) {
      const int64_t run = store.begin_run({.experiment = "induction",
                                           .source = source,
                                           .arguments = {{"layer", 1}, {"prompt", "When Mary and John"}},
                                           .model = {{"name", "demo"}},
                                           .seed = 7});
      store.record_tool_call(run, "write_read", "compute_write_read_score", {{"head", {{"layer", 0}, {"head", 1}}}});
      store.finish_run(run, {{"score", 0.5}, {"pattern", store.store_tensor(torch::eye(3))}});
    }
    store.fail_run(store.begin_run({.experiment = "broken", .source = "throw;"}), "it failed");
  }
  fs::copy_file(save_dir / "experiments.sqlite", dir / "experiments.sqlite", fs::copy_options::overwrite_existing);
}

void input_ids_seeds(const fs::path& dir) {
  save_safetensors(dir / "ids.safetensors", {{"input_ids", torch::tensor({{1, 2, 3}, {4, 5, 0}}, torch::kInt64)},
                                             {"attention_mask", torch::tensor({{1, 1, 1}, {1, 1, 0}}, torch::kInt64)}});
  write_text(dir / "list.txt", "50256,11,-3, 7");
}

}  // namespace

const std::vector<FuzzEntry>& fuzz_entries() {
  static const std::vector<FuzzEntry> kEntries = {
      {"safetensors", "a .safetensors file: header JSON, dtypes, shapes, offsets; every tensor read", safetensors_file,
       safetensors_seeds},
      {"safetensors_index", "model.safetensors.index.json over two fixed shards; every listed tensor read",
       safetensors_index, safetensors_index_seeds},
      {"config", "config.json through every family's reader and the TransformerLens reader", model_config},
      {"torch_checkpoint", "pytorch_model.bin: the zip container, its pickle and storages; every tensor read",
       torch_checkpoint},
      {"pickle", "the restricted pickle reader on data.pkl bytes", pickle},
      {"llama2c_model", "a llama2.c model checkpoint; every weight read", llama2c_model, llama2c_model_seeds},
      {"llama2c_tokenizer", "a llama2.c tokenizer.bin; encode and decode", llama2c_tokenizer, llama2c_tokenizer_seeds},
      {"tokenizer_json", "tokenizer.json (NUL text NUL tokenizer_config.json); encode and decode", tokenizer_json},
      {"bpe_files", "vocab.json NUL merges.txt (NUL text); encode and decode", bpe_files},
      {"experiment_store", "experiments.sqlite opened read-only; listed, exported, diffed", experiment_store,
       experiment_store_seeds},
      {"input_ids", "--input-ids as an id list and as a .safetensors file", input_ids, input_ids_seeds},
  };
  return kEntries;
}

const FuzzEntry& fuzz_entry(std::string_view name) {
  for (const FuzzEntry& entry : fuzz_entries())
    if (entry.name == name) return entry;
  std::string names;
  for (const FuzzEntry& entry : fuzz_entries()) names += (names.empty() ? "" : ", ") + std::string(entry.name);
  throw std::invalid_argument("no fuzz target '" + std::string(name) + "' (targets: " + names + ")");
}

}  // namespace arrakis::fuzz
