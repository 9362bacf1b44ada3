#pragma once
// llama2.c's two file formats written by the tests (Karpathy's run.c reads both; export.py's legacy_export and
// tokenizer.py's export write them), so that finding, detecting and rejecting them runs on a fresh clone. The real
// stories260K files, and what its model and tokenizer compute: ../shared (reference/test_llama2c.cpp,
// reference/test_tokenizer_llama2c.cpp).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "arrakis/util/seeded_generator.hpp"

namespace arrakis::test {

/// A tokenizer.bin: int32 max_token_length, then per token a float32 score, an int32 length and its bytes. The tokens
/// are run.c's fixed ones (<unk>, "\n<s>\n", "\n</s>\n" and the 256 byte tokens "<0x00>".."<0xFF>", ids 0..258) then
/// `pieces` (text, score) from id 259 on.
inline void write_llama2c_tokenizer(const std::filesystem::path& file,
                                    const std::vector<std::pair<std::string, float>>& pieces) {
  std::vector<std::pair<std::string, float>> tokens = {{"<unk>", 0.0f}, {"\n<s>\n", 0.0f}, {"\n</s>\n", 0.0f}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    tokens.emplace_back(name, 0.0f);
  }
  tokens.insert(tokens.end(), pieces.begin(), pieces.end());
  int32_t max_length = 0;
  for (const auto& [text, score] : tokens) max_length = std::max(max_length, static_cast<int32_t>(text.size()));
  std::ofstream out(file, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&max_length), sizeof max_length);
  for (const auto& [text, score] : tokens) {
    const auto length = static_cast<int32_t>(text.size());
    out.write(reinterpret_cast<const char*>(&score), sizeof score);
    out.write(reinterpret_cast<const char*>(&length), sizeof length);
    out.write(text.data(), length);
  }
}

/// A small tokenizer.bin whose merges spell "Once upon a time" as " Once" (274), " upon" (278), " a" (279) and
/// " time" (283): single characters from id 259, then each word's prefixes, longer ones scoring lower.
inline void write_small_llama2c_tokenizer(const std::filesystem::path& file) {
  std::vector<std::pair<std::string, float>> pieces;
  for (const char* character : {" ", "O", "n", "c", "e", "u", "p", "o", "a", "t", "i", "m"})
    pieces.emplace_back(character, 0.0f);  // 259..270
  float score = -1.0f;
  for (const std::string word : {" Once", " upon", " a", " time"})  // 271..283
    for (std::size_t length = 2; length <= word.size(); ++length) pieces.emplace_back(word.substr(0, length), score--);
  write_llama2c_tokenizer(file, pieces);
}

/// The header fields of a llama2.c checkpoint (legacy version 0).
struct Llama2cHeader {
  int32_t dim = 64, hidden_dim = 172, n_layers = 2, n_heads = 8, n_kv_heads = 4, vocab_size = 512, seq_len = 64;
};

/// A llama2.c checkpoint: the header's 7 int32, then float32 weights in run.c's order (token embedding, the attention
/// norms, wq, wk, wv, wo, the MLP norms, w1, w2, w3, the final norm, the rotary tables freq_cis_real and
/// freq_cis_imag, and the classifier when vocab_size is negative). Weights are seeded normal(0, 0.1), norms 1.
inline void write_llama2c_checkpoint(const std::filesystem::path& file, const Llama2cHeader& h = {},
                                     uint64_t seed = 0) {
  const int64_t d = h.dim, hd = h.hidden_dim, L = h.n_layers, head_size = h.dim / h.n_heads;
  const int64_t kv = h.n_kv_heads * head_size, vocab = std::abs(h.vocab_size);
  auto generator = seeded_generator(seed);
  std::ofstream out(file, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&h), sizeof h);
  auto write = [&](const torch::Tensor& t) {
    const auto values = t.to(torch::kFloat32).contiguous();
    out.write(reinterpret_cast<const char*>(values.data_ptr<float>()),
              static_cast<std::streamsize>(values.numel() * sizeof(float)));
  };
  auto random = [&](std::vector<int64_t> shape) {
    write(at::normal(0.0, 0.1, shape, generator, torch::TensorOptions().dtype(torch::kFloat32)));
  };
  random({vocab, d});          // token_embedding_table
  write(torch::ones({L, d}));  // rms_att_weight
  random({L, d, d});           // wq
  random({L, kv, d});          // wk
  random({L, kv, d});          // wv
  random({L, d, d});           // wo
  write(torch::ones({L, d}));  // rms_ffn_weight
  random({L, hd, d});          // w1
  random({L, d, hd});          // w2
  random({L, hd, d});          // w3
  write(torch::ones({d}));     // rms_final_weight
  auto positions = torch::arange(h.seq_len, torch::kFloat64).unsqueeze(1);
  auto frequencies = torch::pow(10000.0, -torch::arange(0, head_size, 2, torch::kFloat64) / head_size);
  write(torch::cos(positions * frequencies));  // freq_cis_real [seq_len, head_size / 2]
  write(torch::sin(positions * frequencies));  // freq_cis_imag
  if (h.vocab_size < 0) random({vocab, d});    // wcls
}

}  // namespace arrakis::test
