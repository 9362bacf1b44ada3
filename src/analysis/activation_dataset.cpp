#include "arrakis/analysis/activation_dataset.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <fstream>

#include "arrakis/error.hpp"
#include "arrakis/hooks/hook_catalogue.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/generation.hpp"
#include "arrakis/model/hooked_transformer.hpp"
#include "util/read_file.hpp"
#include "util/write_file.hpp"

namespace arrakis {

namespace {

constexpr const char* kDatasetFormat = "arrakis-activations";
constexpr int kDatasetVersion = 1;
constexpr int64_t kShardBytes = int64_t{64} << 20;

int64_t dataset_element_size(torch::Dtype dtype) { return dtype == torch::kFloat32 ? 4 : 2; }

std::string dataset_dtype_name(torch::Dtype dtype) { return dtype == torch::kFloat32 ? "float32" : "bfloat16"; }

void check_dataset_dtype(torch::Dtype dtype) {
  if (dtype != torch::kFloat32 && dtype != torch::kBFloat16)
    throw Error(fmt::format("activation datasets are stored as float32 or bfloat16, not {}", c10::toString(dtype)));
}

// A stored dataset's folder must be new or empty: collecting never mixes with or overwrites earlier shards.
void prepare_dataset_folder(const std::filesystem::path& dir) {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    if (!std::filesystem::is_directory(dir, ec))
      throw Error(fmt::format("{}: exists and is not a folder", dir.string()));
    if (!std::filesystem::is_empty(dir, ec))
      throw Error(fmt::format("{}: the folder is not empty (an activation dataset is written to a new or empty one)",
                              dir.string()));
  }
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(fmt::format("{}: cannot create the folder: {}", dir.string(), ec.message()));
}

std::string shard_file_name(std::size_t i) { return fmt::format("shard_{:05d}.safetensors", i); }

// What open() reads beside the shards: dataset.json and tokens.safetensors.
struct DatasetIndex {
  std::string model, hook;
  int64_t d = 0, rows = 0;
  torch::Dtype dtype = torch::kFloat32;
  torch::Tensor tokens;  // [n_sequences, context_length]
  std::string source;    // the token source, in words (empty: not recorded)
  nlohmann::json shards;
};

void write_dataset_index(const std::filesystem::path& dir, const DatasetIndex& index) {
  save_safetensors(dir / "tokens.safetensors", {{"tokens", index.tokens}});
  nlohmann::json meta = {{"format", kDatasetFormat},
                         {"version", kDatasetVersion},
                         {"model", index.model},
                         {"hook", index.hook},
                         {"d", index.d},
                         {"rows", index.rows},
                         {"context_length", index.tokens.size(1)},
                         {"dtype", dataset_dtype_name(index.dtype)},
                         {"shards", index.shards}};
  if (!index.source.empty()) meta["tokens"] = index.source;
  write_file_atomically(dir / "dataset.json", meta.dump(2) + "\n");
}

// Tokens from a safetensors file: its "tokens" or "input_ids" tensor, or its only tensor, of an integer dtype.
torch::Tensor tokens_from_file(const std::filesystem::path& path) {
  auto file = SafetensorsFile::open(path);
  std::string name;
  for (const char* candidate : {"tokens", "input_ids"})
    if (file->contains(candidate)) name = candidate;
  if (name.empty()) {
    const auto names = file->names();
    if (names.size() != 1)
      throw Error(
          fmt::format("{}: holds {} tensors and none named \"tokens\" or \"input_ids\"", path.string(), names.size()));
    name = names[0];
  }
  auto t = file->tensor(name);
  if (t.is_floating_point() || t.is_complex() || t.scalar_type() == torch::kBool)
    throw Error(fmt::format("{}: tensor '{}' holds {}, not token ids (an integer dtype)", path.string(), name,
                            c10::toString(t.scalar_type())));
  if (t.dim() < 1 || t.dim() > 2 || t.numel() == 0)
    throw Error(fmt::format("{}: tensor '{}' has shape [{}]; token ids are [n] or [n_sequences, length]", path.string(),
                            name, fmt::join(t.sizes(), ", ")));
  return t.to(torch::kInt64).clone();
}

// Cuts a stream of ids into contexts of `length`, each starting with BOS when the model prepends one (as
// TransformerLens and SAELens do for every context), covering at least n_tokens rows.
torch::Tensor contexts_of_stream(const std::vector<int64_t>& ids, std::optional<int64_t> bos, int64_t length,
                                 int64_t n_tokens, const std::string& what) {
  const int64_t body = bos ? length - 1 : length;
  if (body < 1) throw Error(fmt::format("context length {} leaves no room after BOS", length));
  const int64_t n_sequences = (n_tokens + length - 1) / length;
  if (static_cast<int64_t>(ids.size()) < n_sequences * body)
    throw Error(fmt::format("{}: gives {} tokens, fewer than the {} that {} contexts of {} need", what, ids.size(),
                            n_sequences * body, n_sequences, length));
  auto out = torch::empty({n_sequences, length}, torch::kInt64);
  auto* o = out.data_ptr<int64_t>();
  std::size_t next = 0;
  for (int64_t s = 0; s < n_sequences; ++s) {
    int64_t p = 0;
    if (bos) o[s * length + p++] = *bos;
    for (; p < length; ++p) o[s * length + p] = ids[next++];
  }
  return out;
}

std::optional<int64_t> model_bos(const HookedTransformer& model) {
  if (!model.config().default_prepend_bos) return std::nullopt;
  if (model.has_tokenizer()) return model.tokenizer().special_tokens().bos;
  return std::nullopt;
}

// The hook point's block, for stopping the forward after it: -1 before the blocks (embeddings), n_layers when it
// needs the whole forward (ln_final), else the block.
int block_of_point(HookedTransformer& model, const std::string& hook) {
  const int id = model.hooks().require(hook);
  const auto& point = model.hooks().points().at(static_cast<std::size_t>(id));
  if (point.layer >= 0) return point.layer;
  if (hook.starts_with("hook_")) return -1;
  return static_cast<int>(model.config().n_layers);
}

void check_per_position_point(const std::string& hook) {
  if (auto parsed = parse_hook_name(hook)) {
    const auto shape = hook_spec(parsed->first).shape;
    if (!shape.starts_with("[b, p"))
      throw Error(
          fmt::format("hook point '{}' is {} per sequence, not one vector per token: an activation dataset "
                      "holds one row per token",
                      hook, shape));
  }
}

}  // namespace

TokenSource TokenSource::parse(const std::string& text) {
  if (text.empty()) throw Error("a token source is FILE.safetensors, a text file, or generate[:SEED]");
  if (text == "generate" || text.starts_with("generate:")) {
    TokenSource s;
    s.kind = Kind::Generated;
    if (text.size() > 9) {
      try {
        s.seed = std::stoull(text.substr(9));
      } catch (const std::exception&) {
        throw Error(fmt::format("token source '{}': the seed after generate: is not a non-negative integer", text));
      }
    }
    return s;
  }
  TokenSource s;
  s.path = text;
  s.kind = s.path.extension() == ".safetensors" ? Kind::TokenFile : Kind::TextFile;
  return s;
}

std::string TokenSource::describe() const {
  switch (kind) {
    case Kind::Tensor: return fmt::format("token ids [{}]", fmt::join(tokens.sizes(), ", "));
    case Kind::TokenFile: return "token ids from " + path.string();
    case Kind::TextFile: return "text from " + path.string();
    case Kind::Generated: return fmt::format("text the model samples (temperature {}, seed {})", temperature, seed);
  }
  return {};
}

torch::Tensor source_tokens(HookedTransformer& model, const TokenSource& source, int64_t n_tokens,
                            int64_t context_length, const std::function<void(int64_t, int64_t)>& progress) {
  if (n_tokens < 1) throw Error(fmt::format("n_tokens is {}; it must be at least 1", n_tokens));
  const int64_t d_vocab = model.config().d_vocab;
  auto checked = [&](torch::Tensor t, const std::string& what) {
    if (t.numel() > 0 && (t.min().item<int64_t>() < 0 || t.max().item<int64_t>() >= d_vocab))
      throw Error(fmt::format("{}: holds token ids outside the model's vocabulary 0..{}", what, d_vocab - 1));
    return t;
  };
  switch (source.kind) {
    case TokenSource::Kind::Tensor: {
      auto t = source.tokens;
      if (!t.defined() || t.dim() != 2 || t.numel() == 0 || t.is_floating_point())
        throw Error("token ids for activations are an integer tensor [n_sequences, length]");
      t = t.to(torch::kInt64).cpu();
      const int64_t rows = t.size(0) * t.size(1);
      if (rows < n_tokens)
        throw Error(fmt::format("the tokens give {} rows, fewer than the {} asked for", rows, n_tokens));
      return checked(t, "tokens");
    }
    case TokenSource::Kind::TokenFile: {
      auto t = tokens_from_file(source.path);
      if (t.dim() == 2 && t.size(1) == context_length) {
        const int64_t n_sequences = (n_tokens + context_length - 1) / context_length;
        if (t.size(0) < n_sequences)
          throw Error(fmt::format("{}: holds {} contexts of {}, fewer than the {} that {} tokens need",
                                  source.path.string(), t.size(0), context_length, n_sequences, n_tokens));
        return checked(t.slice(0, 0, n_sequences).contiguous(), source.path.string());
      }
      auto flat = t.reshape({-1}).contiguous();
      std::vector<int64_t> ids(flat.data_ptr<int64_t>(), flat.data_ptr<int64_t>() + flat.numel());
      return checked(contexts_of_stream(ids, model_bos(model), context_length, n_tokens, source.path.string()),
                     source.path.string());
    }
    case TokenSource::Kind::TextFile: {
      const auto& tokenizer = model.tokenizer();  // arrakis::Error when the model has none
      refuse_special_file(source.path);           // a FIFO would block the open
      std::ifstream in(source.path, std::ios::binary);
      if (!in) throw Error(fmt::format("{}: cannot open the text file", source.path.string()));
      // Tokenized a block of lines at a time, until enough tokens: a corpus far larger than needed is never read whole.
      std::vector<int64_t> ids;
      const int64_t needed = n_tokens + n_tokens / context_length + 1;
      std::string block, line;
      while (static_cast<int64_t>(ids.size()) < needed && in) {
        block.clear();
        while (block.size() < (1u << 20) && std::getline(in, line)) block += line + '\n';
        if (block.empty()) break;
        auto part = tokenizer.encode(block);
        ids.insert(ids.end(), part.begin(), part.end());
      }
      return checked(contexts_of_stream(ids, model_bos(model), context_length, n_tokens, source.path.string()),
                     source.path.string());
    }
    case TokenSource::Kind::Generated: {
      const int64_t n_sequences = (n_tokens + context_length - 1) / context_length;
      int64_t start = 0;
      if (model.has_tokenizer() && model.tokenizer().special_tokens().bos)
        start = *model.tokenizer().special_tokens().bos;
      GenerateOptions g{.max_new_tokens = context_length - 1,
                        .temperature = source.temperature,
                        .seed = source.seed,
                        .stop_at_eos = false};
      std::vector<torch::Tensor> parts;
      const int64_t batch = 64;
      for (int64_t done = 0; done < n_sequences; done += batch) {
        const int64_t b = std::min(batch, n_sequences - done);
        g.seed = source.seed + static_cast<uint64_t>(done);
        auto prompt = torch::full({b, 1}, start, torch::kInt64).to(model.device());
        parts.push_back(generate(model, prompt, g).tokens.cpu());
        if (progress) progress(done + b, n_sequences);
      }
      return torch::cat(parts, 0);
    }
  }
  throw Error("unknown token source");
}

ActivationDataset collect_activations(HookedTransformer& model, const ActivationCollectionOptions& options) {
  check_dataset_dtype(options.dtype);
  if (options.hook.empty()) throw Error("collect_activations: no hook point named (hook)");
  if (options.n_tokens < 1) throw Error(fmt::format("collect_activations: n_tokens is {}", options.n_tokens));
  if (options.memory_budget < (int64_t{1} << 20))
    throw Error(fmt::format("collect_activations: memory_budget {} bytes is below 1 MiB", options.memory_budget));
  check_per_position_point(options.hook);
  const int block = block_of_point(model, options.hook);
  const auto& c = model.config();
  int64_t context = options.context_length;
  if (options.tokens.kind == TokenSource::Kind::Tensor && options.tokens.tokens.defined() &&
      options.tokens.tokens.dim() == 2)
    context = options.tokens.tokens.size(1);
  if (context == 0) context = std::min<int64_t>(c.n_ctx > 0 ? c.n_ctx : 128, 128);
  if (context < 2 || (c.n_ctx > 0 && context > c.n_ctx))
    throw Error(
        fmt::format("collect_activations: context_length {} is not in 2..{} (the model's n_ctx)", context, c.n_ctx));
  if (options.out) prepare_dataset_folder(*options.out);

  ActivationDataset data;
  data.hook_ = options.hook;
  data.model_name_ = c.model_name;
  data.dtype_ = options.dtype;
  data.context_length_ = context;
  std::function<void(int64_t, int64_t)> sampling;
  if (options.progress)
    sampling = [&options](int64_t done, int64_t total) { options.progress("sampling", done, total); };
  data.tokens_ = source_tokens(model, options.tokens, options.n_tokens, context, sampling);
  const int64_t n_sequences = (options.n_tokens + context - 1) / context;
  data.tokens_ = data.tokens_.slice(0, 0, n_sequences).contiguous();

  // One probe forward of a single context gives the activation's width, then the batch size follows from the budget:
  // the forward's own working memory per token is about (a few d_model-wide tensors + one attention row per head).
  torch::NoGradGuard no_grad;
  ForwardOptions forward{.stop_at_layer = block + 1 > static_cast<int>(c.n_layers) ? -1 : block + 1};
  torch::Tensor captured;
  auto capture = model.add_hook(options.hook, [&captured](const torch::Tensor& t) { captured = t.detach(); });
  model.forward(data.tokens_.slice(0, 0, 1).to(model.device()), forward);
  if (!captured.defined() || captured.dim() < 3 || captured.size(0) != 1 || captured.size(1) != context)
    throw Error(fmt::format(
        "hook point '{}' does not hold one vector per token (its activation is [{}])", options.hook,
        captured.defined() ? fmt::format("{}", fmt::join(captured.sizes(), ", ")) : std::string("never reached")));
  const int64_t d = captured[0][0].numel();
  data.d_ = d;
  const int64_t per_token_forward = 4 * (12 * c.d_model + 3 * std::max<int64_t>(c.d_mlp, 0) + c.n_heads * context +
                                         (block >= static_cast<int>(c.n_layers) ? c.d_vocab : 0));
  const int64_t per_token_kept = dataset_element_size(options.dtype) * d;
  const int64_t total_kept = per_token_kept * n_sequences * context;
  if (!options.out && total_kept > options.memory_budget / 2)
    throw Error(
        fmt::format("collect_activations: {} rows of {} values take {:.1f} MiB, more than half the memory "
                    "budget ({:.1f} MiB): store them to disk (out) or raise the budget",
                    n_sequences * context, d, total_kept / 1048576.0, options.memory_budget / 1048576.0));
  const int64_t for_batches = options.out ? options.memory_budget : options.memory_budget - total_kept;
  const int64_t batch =
      std::clamp<int64_t>(for_batches / std::max<int64_t>(1, (per_token_forward + 4 * d) * context), 1, n_sequences);
  int64_t shard_rows =
      options.shard_rows > 0 ? options.shard_rows : std::max<int64_t>(context, kShardBytes / per_token_kept);
  shard_rows = std::max<int64_t>(shard_rows, 1);

  std::vector<torch::Tensor> pending;  // rows not yet in a shard
  int64_t pending_rows = 0, rows_done = 0;
  std::vector<std::pair<std::string, int64_t>> shard_files;
  auto flush = [&](bool final_flush) {
    while (pending_rows >= shard_rows || (final_flush && pending_rows > 0)) {
      auto all = torch::cat(pending, 0);
      const int64_t take = std::min(shard_rows, pending_rows);
      auto shard = all.slice(0, 0, take).contiguous();
      pending = {all.slice(0, take)};
      pending_rows -= take;
      if (options.out) {
        const auto name = shard_file_name(shard_files.size());
        save_safetensors(*options.out / name, {{"activations", shard}});
        shard_files.emplace_back(name, take);
      } else {
        data.shard_starts_.push_back(data.n_rows_);
        data.shards_.push_back(shard);
      }
      data.n_rows_ += take;
    }
  };
  const int64_t total_rows = n_sequences * context;
  for (int64_t s = 0; s < n_sequences; s += batch) {
    const int64_t b = std::min(batch, n_sequences - s);
    captured = torch::Tensor();
    model.forward(data.tokens_.slice(0, s, s + b).to(model.device()), forward);
    pending.push_back(captured.reshape({b * context, d}).to(torch::kCPU).to(options.dtype));
    pending_rows += b * context;
    rows_done += b * context;
    flush(false);
    if (options.progress) options.progress("collecting", rows_done, total_rows);
  }
  flush(true);
  if (options.out) {
    data.directory_ = *options.out;
    nlohmann::json shards = nlohmann::json::array();
    for (const auto& [name, rows] : shard_files) shards.push_back({{"file", name}, {"rows", rows}});
    write_dataset_index(*options.out, {.model = c.model_name,
                                       .hook = options.hook,
                                       .d = d,
                                       .rows = data.n_rows_,
                                       .dtype = options.dtype,
                                       .tokens = data.tokens_,
                                       .source = options.tokens.describe(),
                                       .shards = shards});
    return ActivationDataset::open(*options.out);
  }
  return data;
}

ActivationDataset activations_in_memory(std::string hook, torch::Tensor rows, torch::Tensor tokens,
                                        std::string model_name) {
  if (!rows.defined() || rows.dim() != 2 || rows.size(0) < 1 || rows.size(1) < 1 || !rows.is_floating_point())
    throw Error("an activation dataset's rows are a floating tensor [n_rows, d]");
  ActivationDataset data;
  data.hook_ = std::move(hook);
  data.model_name_ = std::move(model_name);
  data.dtype_ = rows.scalar_type() == torch::kBFloat16 ? torch::kBFloat16 : torch::kFloat32;
  data.d_ = rows.size(1);
  data.n_rows_ = rows.size(0);
  if (tokens.defined()) {
    if (tokens.dim() != 2 || tokens.numel() != rows.size(0))
      throw Error(fmt::format("tokens [{}] do not cover the {} rows one to one", fmt::join(tokens.sizes(), ", "),
                              rows.size(0)));
    data.tokens_ = tokens.to(torch::kInt64).cpu().contiguous();
    data.context_length_ = tokens.size(1);
  }
  data.shards_.push_back(rows.detach().cpu().to(data.dtype_).contiguous());
  data.shard_starts_.push_back(0);
  return data;
}

ActivationDataset ActivationDataset::open(const std::filesystem::path& dir) {
  const auto meta_path = dir / "dataset.json";
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(read_text_file(meta_path));
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: not valid JSON: {}", meta_path.string(), e.what()));
  }
  auto field = [&](const char* name) -> const nlohmann::json& {
    if (!meta.is_object() || !meta.contains(name))
      throw Error(fmt::format("{}: field '{}' is missing", meta_path.string(), name));
    return meta[name];
  };
  auto integer = [&](const char* name, int64_t min) {
    const auto& v = field(name);
    if (!v.is_number_integer() || v.get<int64_t>() < min)
      throw Error(fmt::format("{}: field '{}' is not an integer >= {}", meta_path.string(), name, min));
    return v.get<int64_t>();
  };
  auto text = [&](const char* name) {
    const auto& v = field(name);
    if (!v.is_string()) throw Error(fmt::format("{}: field '{}' is not a string", meta_path.string(), name));
    return v.get<std::string>();
  };
  if (text("format") != kDatasetFormat)
    throw Error(fmt::format("{}: format is not \"{}\"", meta_path.string(), kDatasetFormat));
  if (integer("version", 1) != kDatasetVersion)
    throw Error(fmt::format("{}: version {} is not {}", meta_path.string(), field("version").dump(), kDatasetVersion));
  ActivationDataset data;
  data.directory_ = dir;
  data.hook_ = text("hook");
  data.model_name_ = field("model").is_string() ? field("model").get<std::string>() : "";
  data.d_ = integer("d", 1);
  data.context_length_ = integer("context_length", 1);
  const int64_t rows = integer("rows", 1);
  const auto dtype_name = text("dtype");
  if (dtype_name != "float32" && dtype_name != "bfloat16")
    throw Error(fmt::format("{}: dtype '{}' is not float32 or bfloat16", meta_path.string(), dtype_name));
  data.dtype_ = dtype_name == "float32" ? torch::kFloat32 : torch::kBFloat16;
  const auto tokens_path = dir / "tokens.safetensors";
  data.tokens_ = SafetensorsFile::open(tokens_path)->tensor("tokens");
  if (data.tokens_.dim() != 2 || data.tokens_.scalar_type() != torch::kInt64 ||
      data.tokens_.size(1) != data.context_length_ || data.tokens_.numel() != rows)
    throw Error(fmt::format("{}: 'tokens' is not int64 [{}, {}]", tokens_path.string(), rows / data.context_length_,
                            data.context_length_));
  const auto& shards = field("shards");
  if (!shards.is_array() || shards.empty())
    throw Error(fmt::format("{}: field 'shards' is not a non-empty list", meta_path.string()));
  auto files = std::make_shared<std::vector<std::shared_ptr<SafetensorsFile>>>();
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const auto& s = shards[i];
    if (!s.is_object() || !s.contains("file") || !s["file"].is_string() || !s.contains("rows") ||
        !s["rows"].is_number_integer() || s["rows"].get<int64_t>() < 1)
      throw Error(fmt::format("{}: shards[{}] is not {{\"file\": name, \"rows\": n >= 1}}", meta_path.string(), i));
    const auto name = s["file"].get<std::string>();
    // Only plain names inside the folder: a dataset.json must not read files elsewhere.
    if (name.find('/') != std::string::npos || name.find('\\') != std::string::npos || name.starts_with("."))
      throw Error(fmt::format("{}: shards[{}].file '{}' is not a file name in the dataset's folder", meta_path.string(),
                              i, name));
    auto file = SafetensorsFile::open(dir / name);
    auto t = file->tensor("activations");
    const int64_t n = s["rows"].get<int64_t>();
    if (t.dim() != 2 || t.size(0) != n || t.size(1) != data.d_ || t.scalar_type() != data.dtype_)
      throw Error(fmt::format("{}: 'activations' is {} [{}], not {} [{}, {}] as dataset.json says",
                              (dir / name).string(), c10::toString(t.scalar_type()), fmt::join(t.sizes(), ", "),
                              dtype_name, n, data.d_));
    data.shard_starts_.push_back(data.n_rows_);
    data.shards_.push_back(t);
    data.n_rows_ += n;
    files->push_back(std::move(file));
  }
  if (data.n_rows_ != rows)
    throw Error(
        fmt::format("{}: the shards hold {} rows, not the {} of field 'rows'", meta_path.string(), data.n_rows_, rows));
  data.mapped_ = files;
  return data;
}

torch::Tensor ActivationDataset::row_tokens() const {
  if (!tokens_.defined()) throw Error(fmt::format("the activations of {} came with no tokens", hook_));
  return tokens_.reshape({-1});
}

torch::Tensor ActivationDataset::rows(int64_t first, int64_t count) const {
  if (first < 0 || count < 0 || first + count > n_rows_)
    throw Error(fmt::format("rows [{}, {}) are outside the dataset's {} rows", first, first + count, n_rows_));
  std::vector<torch::Tensor> parts;
  for (std::size_t i = 0; i < shards_.size() && count > 0; ++i) {
    const int64_t start = shard_starts_[i], end = start + shards_[i].size(0);
    if (first >= end) continue;
    const int64_t take = std::min(count, end - first);
    parts.push_back(shards_[i].slice(0, first - start, first - start + take).to(torch::kFloat32));
    first += take;
    count -= take;
  }
  if (parts.empty()) return torch::empty({0, d_}, torch::kFloat32);
  return parts.size() == 1 ? parts[0].contiguous() : torch::cat(parts, 0);
}

void ActivationDataset::for_each_batch(int64_t batch_rows,
                                       const std::function<void(const torch::Tensor&, int64_t)>& fn) const {
  if (batch_rows < 1) throw Error(fmt::format("batch of {} rows", batch_rows));
  for (int64_t first = 0; first < n_rows_; first += batch_rows)
    fn(rows(first, std::min(batch_rows, n_rows_ - first)), first);
}

torch::Tensor ActivationDataset::all(int64_t max_bytes) const {
  if (n_rows_ * d_ * 4 > max_bytes)
    throw Error(
        fmt::format("the dataset of {} ({} rows x {}) takes {:.1f} MiB as float32, more than {:.1f} MiB: "
                    "read it in batches",
                    hook_, n_rows_, d_, n_rows_ * d_ * 4 / 1048576.0, max_bytes / 1048576.0));
  return rows(0, n_rows_);
}

void ActivationDataset::save(const std::filesystem::path& dir, int64_t shard_rows) const {
  prepare_dataset_folder(dir);
  if (shard_rows < 1) shard_rows = std::max<int64_t>(1, kShardBytes / (dataset_element_size(dtype_) * d_));
  nlohmann::json shards = nlohmann::json::array();
  std::size_t i = 0;
  for (int64_t first = 0; first < n_rows_; first += shard_rows, ++i) {
    const int64_t n = std::min(shard_rows, n_rows_ - first);
    save_safetensors(dir / shard_file_name(i), {{"activations", rows(first, n).to(dtype_)}});
    shards.push_back({{"file", shard_file_name(i)}, {"rows", n}});
  }
  // Synthetic rows come without tokens: stored with placeholders (contexts of one) so the layout stays one.
  const auto tokens = tokens_.defined() ? tokens_ : torch::zeros({n_rows_, 1}, torch::kInt64);
  write_dataset_index(dir, {.model = model_name_,
                            .hook = hook_,
                            .d = d_,
                            .rows = n_rows_,
                            .dtype = dtype_,
                            .tokens = tokens,
                            .source = {},
                            .shards = shards});
}

nlohmann::json ActivationDataset::describe() const {
  return {{"hook", hook_},
          {"model", model_name_},
          {"rows", n_rows_},
          {"d", d_},
          {"context_length", context_length_},
          {"dtype", dataset_dtype_name(dtype_)},
          {"shards", shards_.size()},
          {"directory", directory_.string()}};
}

}  // namespace arrakis
