#pragma once
// Activation datasets: one hook point's activations over many tokens, the data of representation work (sparsity,
// sparse autoencoders, probes). Collected by streaming a token source through the model in batches, with memory
// bounded by a budget, kept in memory or stored as safetensors shards and read back memory-mapped. Every activation
// row remembers where it came from (sequence, position), so a unit's top activations can be shown in context.
// Definitions and the on-disk layout: docs/representations.md.
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace arrakis {

class HookedTransformer;

/// Where the tokens come from.
struct TokenSource {
  enum class Kind {
    Tensor,     // token ids in memory: [n_sequences, length] (each row is a context as it is)
    TokenFile,  // a .safetensors file holding one integer tensor (named "tokens" or "input_ids", or its only one)
    TextFile,   // a UTF-8 text file, tokenized by the model's tokenizer and cut into contexts
    Generated,  // text the model samples itself, from BOS (for models shipped without a corpus)
  };
  Kind kind = Kind::Generated;
  torch::Tensor tokens;        // Tensor
  std::filesystem::path path;  // TokenFile, TextFile
  double temperature = 1.0;    // Generated
  uint64_t seed = 0;           // Generated: the sampling seed

  static TokenSource tensor(torch::Tensor ids) { return {Kind::Tensor, std::move(ids), {}, 1.0, 0}; }
  /// "generate" or "generate:SEED"; FILE.safetensors (token ids); any other path: a text file.
  static TokenSource parse(const std::string& text);
  std::string describe() const;
};

struct ActivationCollectionOptions {
  std::string hook;  // e.g. "blocks.0.hook_resid_post", "blocks.1.mlp.hook_post", "blocks.0.attn.hook_z"
  TokenSource tokens;
  int64_t n_tokens = 0;        // activation rows to collect (required)
  int64_t context_length = 0;  // tokens per context; 0: the model's n_ctx, at most 128
  /// Bytes the collection may hold at once: the forward's working memory for one batch plus, when nothing is stored
  /// to disk, the whole dataset. Sets the batch size (sequences per forward).
  int64_t memory_budget = int64_t{512} << 20;
  std::optional<std::filesystem::path> out;  // store shards here (a new or empty folder); none: keep in memory
  torch::Dtype dtype = torch::kFloat32;      // stored precision: float32 or bfloat16
  int64_t shard_rows = 0;                    // rows per shard file; 0: as many as fit in 64 MiB
  /// After every batch, of each phase: "sampling" (a Generated source's tokens), then "collecting".
  std::function<void(std::string_view phase, int64_t done, int64_t total)> progress;
};

/// A hook point's activations [n_rows, d] (a point's trailing dimensions flattened: hook_z's [head, d_head] become
/// head * d_head units), with the tokens they were computed on.
class ActivationDataset {
 public:
  /// Reads a stored dataset (dataset.json, tokens.safetensors, shard_*.safetensors), validating every file against
  /// dataset.json; shards stay memory-mapped. arrakis::Error naming the file and field at fault.
  static ActivationDataset open(const std::filesystem::path& dir);

  const std::string& hook() const { return hook_; }
  const std::string& model_name() const { return model_name_; }
  int64_t d() const { return d_; }
  int64_t n_rows() const { return n_rows_; }
  int64_t context_length() const { return context_length_; }
  torch::Dtype dtype() const { return dtype_; }
  /// The token ids the activations were computed on, [n_sequences, context_length]; row r of the activations is
  /// token (r / context_length, r % context_length).
  const torch::Tensor& tokens() const { return tokens_; }
  /// Token id at each row [n_rows].
  torch::Tensor row_tokens() const;
  /// Where it is stored (empty when in memory).
  const std::filesystem::path& directory() const { return directory_; }

  int64_t n_shards() const { return static_cast<int64_t>(shards_.size()); }
  /// Shard i's rows [rows, d] in the stored dtype (a view of the mapped file when stored).
  const torch::Tensor& shard(int64_t i) const { return shards_.at(static_cast<std::size_t>(i)); }
  /// Calls fn(rows [n, d] float32, first_row) for consecutive batches of at most `batch_rows` rows, in order.
  void for_each_batch(int64_t batch_rows, const std::function<void(const torch::Tensor&, int64_t)>& fn) const;
  /// Rows [first, first + count) as float32.
  torch::Tensor rows(int64_t first, int64_t count) const;
  /// Every row as float32 [n_rows, d]; arrakis::Error when that exceeds `max_bytes`.
  torch::Tensor all(int64_t max_bytes = int64_t{2} << 30) const;

  /// Writes the dataset to a new or empty folder in the layout open() reads.
  void save(const std::filesystem::path& dir, int64_t shard_rows = 0) const;
  nlohmann::json describe() const;  // hook, model, rows, d, dtype, shards, where

 private:
  friend ActivationDataset collect_activations(HookedTransformer& model, const ActivationCollectionOptions& options);
  friend ActivationDataset activations_in_memory(std::string hook, torch::Tensor rows, torch::Tensor tokens,
                                                 std::string model_name);
  std::string hook_, model_name_;
  int64_t d_ = 0, n_rows_ = 0, context_length_ = 0;
  torch::Dtype dtype_ = torch::kFloat32;
  torch::Tensor tokens_;
  std::vector<torch::Tensor> shards_;
  std::vector<int64_t> shard_starts_;
  std::filesystem::path directory_;
  std::shared_ptr<void> mapped_;  // keeps the shard files mapped
};

/// Streams the source through the model and keeps the hook point's activations. The forward stops after the hook
/// point's block (no later layer, no logits), so collecting costs no more than the part of the forward it needs.
ActivationDataset collect_activations(HookedTransformer& model, const ActivationCollectionOptions& options);

/// A dataset over rows already computed ([n_rows, d]) and the tokens they came from ([n_sequences, ctx], n_sequences *
/// ctx == n_rows); for synthetic data and tests, `tokens` may be undefined.
ActivationDataset activations_in_memory(std::string hook, torch::Tensor rows, torch::Tensor tokens = {},
                                        std::string model_name = {});

/// The token contexts a source gives: [n_sequences, context_length] covering at least n_tokens tokens; `progress`
/// (sequences done, of total) after each batch a Generated source samples.
torch::Tensor source_tokens(HookedTransformer& model, const TokenSource& source, int64_t n_tokens,
                            int64_t context_length,
                            const std::function<void(int64_t done, int64_t total)>& progress = {});

}  // namespace arrakis
