#include "arrakis/model/llama2c_format.hpp"

#include <fmt/format.h>

#include <array>
#include <cstring>
#include <fstream>

#include "arrakis/error.hpp"
#include "io/mapped_file.hpp"
#include "model/families/hf_layouts.hpp"

namespace arrakis {
namespace {

namespace fs = std::filesystem;

struct Header {
  int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
  bool shared_classifier() const { return vocab_size > 0; }
  int64_t vocab() const { return vocab_size > 0 ? vocab_size : -static_cast<int64_t>(vocab_size); }
  int64_t head_size() const { return dim / n_heads; }
  // Floats after the header, in run.c's order (including the unused freq_cis tables).
  int64_t expected_floats() const {
    const int64_t d = dim, hd = hidden_dim, L = n_layers, kv = n_kv_heads * head_size();
    int64_t n = vocab() * d + L * d + L * d * d + 2 * L * d * kv + L * d * d + L * d + 3 * L * d * hd + d +
                seq_len * head_size();  // freq_cis_real + freq_cis_imag: seq_len * head_size / 2 each
    if (!shared_classifier()) n += vocab() * d;
    return n;
  }
  bool plausible() const {
    return dim > 0 && hidden_dim > 0 && n_layers > 0 && n_heads > 0 && n_kv_heads > 0 && seq_len > 0 &&
           vocab_size != 0 && dim % n_heads == 0 && n_heads % n_kv_heads == 0 && dim <= (1 << 16) &&
           hidden_dim <= (1 << 18) && n_layers <= 1024 && seq_len <= (1 << 24);
  }
};

std::optional<Header> read_header(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<int32_t, 7> fields{};
  if (!in.read(reinterpret_cast<char*>(fields.data()), sizeof(fields))) return std::nullopt;
  Header h{};
  std::memcpy(&h, fields.data(), sizeof(fields));
  return h;
}

}  // namespace

bool is_llama2c_checkpoint(const fs::path& path) {
  if (!fs::is_regular_file(path)) return false;
  auto h = read_header(path);
  return h && h->plausible() &&
         fs::file_size(path) == sizeof(int32_t) * 7 + sizeof(float) * static_cast<uint64_t>(h->expected_floats());
}

std::optional<fs::path> find_llama2c_checkpoint(const fs::path& dir) {
  if (!fs::is_directory(dir)) return std::nullopt;
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().extension() == ".bin" && is_llama2c_checkpoint(entry.path())) found.push_back(entry.path());
  if (found.size() > 1)
    throw Error(fmt::format("{} holds several llama2.c checkpoints ({} and {}): pass the file itself", dir.string(),
                            found[0].filename().string(), found[1].filename().string()));
  if (found.empty()) return std::nullopt;
  return found[0];
}

Llama2cModel load_llama2c(const fs::path& path, torch::Dtype dtype, torch::Device device) {
  auto header = read_header(path);
  if (!header) throw Error(fmt::format("{}: too short for a llama2.c checkpoint header", path.string()));
  const Header& h = *header;
  if (!h.plausible())
    throw Error(
        fmt::format("{}: implausible llama2.c header (dim {}, hidden_dim {}, n_layers {}, n_heads {}, "
                    "n_kv_heads {}, vocab_size {}, seq_len {})",
                    path.string(), h.dim, h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads, h.vocab_size, h.seq_len));
  const uint64_t expected_bytes = 28 + 4 * static_cast<uint64_t>(h.expected_floats());
  if (fs::file_size(path) != expected_bytes)
    throw Error(
        fmt::format("{}: {} bytes, but a llama2.c checkpoint with this header has {} (truncated, or not the "
                    "legacy version-0 format?)",
                    path.string(), fs::file_size(path), expected_bytes));

  ModelConfig c;
  c.family = "llama";
  c.model_name = path.stem().string();
  c.d_model = h.dim;
  c.d_mlp = h.hidden_dim;
  c.n_layers = h.n_layers;
  c.n_heads = h.n_heads;
  c.n_kv_heads = h.n_kv_heads;
  c.d_head = h.head_size();
  c.d_vocab = h.vocab();
  c.n_ctx = h.seq_len;
  c.eps = 1e-5;  // run.c's rmsnorm
  c.act_fn = Activation::Silu;
  c.gated_mlp = true;
  c.normalization = NormType::RMSNorm;
  c.positional_embedding = PositionalEmbedding::Rotary;
  c.rotary_style = RotaryStyle::GPTJ;  // run.c rotates (x[2i], x[2i+1])
  c.rotary_base = 10000.0;
  c.tie_word_embeddings = h.shared_classifier();
  c.dtype = dtype;

  auto file = MappedFile::open(path);
  const float* cursor = reinterpret_cast<const float*>(file->data() + 28);
  // Consecutive float32 blocks of the file, viewed in place, then converted if asked.
  auto next = [&](std::vector<int64_t> shape) {
    int64_t n = 1;
    for (auto s : shape) n *= s;
    auto keep = file;
    auto t = torch::from_blob(
        const_cast<float*>(cursor), shape, [keep](void*) mutable { keep.reset(); },
        torch::TensorOptions().dtype(torch::kFloat32));
    cursor += n;
    return t;
  };
  const int64_t d = c.d_model, L = c.n_layers, hd = c.d_mlp, H = c.n_heads, KV = c.n_kv_heads, e = c.d_head;
  auto embedding = next({c.d_vocab, d});
  auto rms_att = next({L, d});
  auto wq = next({L, H * e, d});
  auto wk = next({L, KV * e, d});
  auto wv = next({L, KV * e, d});
  auto wo = next({L, d, H * e});
  auto rms_ffn = next({L, d});
  auto w1 = next({L, hd, d});
  auto w2 = next({L, d, hd});
  auto w3 = next({L, hd, d});
  auto rms_final = next({d});
  next({h.seq_len, e});  // freq_cis_real and freq_cis_imag: recomputed
  auto classifier = h.shared_classifier() ? torch::Tensor() : next({c.d_vocab, d});

  auto convert = [&](const torch::Tensor& t) { return t.to(device, dtype); };
  ModelWeights w;
  w.W_E = convert(embedding);
  w.W_U = h.shared_classifier() ? w.W_E.t() : matrix_from_linear(convert(classifier));
  w.ln_final.w = convert(rms_final);
  auto zeros = [&](std::vector<int64_t> shape) {
    return torch::zeros(shape, torch::TensorOptions().dtype(dtype).device(device));
  };
  for (int64_t l = 0; l < L; ++l) {
    BlockWeights b;
    b.ln1.w = convert(rms_att[l]);
    b.ln2.w = convert(rms_ffn[l]);
    b.attn.W_Q = heads_in_from_linear(convert(wq[l]), H, e);
    b.attn.W_K = heads_in_from_linear(convert(wk[l]), KV, e);
    b.attn.W_V = heads_in_from_linear(convert(wv[l]), KV, e);
    b.attn.W_O = heads_out_from_linear(convert(wo[l]), H, e);
    b.attn.b_Q = zeros({H, e});
    b.attn.b_K = zeros({KV, e});
    b.attn.b_V = zeros({KV, e});
    b.attn.b_O = zeros({d});
    b.mlp.W_gate = matrix_from_linear(convert(w1[l]));
    b.mlp.W_in = matrix_from_linear(convert(w3[l]));
    b.mlp.W_out = matrix_from_linear(convert(w2[l]));
    b.mlp.b_in = zeros({hd});
    b.mlp.b_out = zeros({d});
    w.blocks.push_back(std::move(b));
  }
  return {std::move(c), std::move(w)};
}

}  // namespace arrakis
