#pragma once
// llama2.c's model checkpoint (Karpathy's run.c, legacy version 0): a header of 7 int32 (dim, hidden_dim, n_layers,
// n_heads, n_kv_heads, vocab_size — negative when the classifier is not shared with the embedding — and seq_len),
// then float32 weights in a fixed order.
#include <torch/types.h>

#include <filesystem>
#include <optional>

#include "arrakis/model/config.hpp"
#include "arrakis/model/weights.hpp"

namespace arrakis {

/// True when `path` is a file whose header and size are those of a llama2.c checkpoint.
bool is_llama2c_checkpoint(const std::filesystem::path& path);
/// The llama2.c checkpoint in a folder (a *.bin file that is one), if any.
std::optional<std::filesystem::path> find_llama2c_checkpoint(const std::filesystem::path& dir);

struct Llama2cModel {
  ModelConfig config;
  ModelWeights weights;
};

/// Reads the checkpoint (memory-mapped: float32 weights are views of the file). The model keeps llama2.c's own
/// weight layout, whose rotary embedding rotates adjacent pairs (GPT-J pairing); Hugging Face's conversion permutes
/// W_Q and W_K to NeoX pairing instead, so hook_q / hook_k of the two differ by that permutation while logits agree.
/// Throws arrakis::Error naming the file when the header is implausible or the size does not match it.
Llama2cModel load_llama2c(const std::filesystem::path& path, torch::Dtype dtype, torch::Device device);

}  // namespace arrakis
