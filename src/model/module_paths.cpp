#include "arrakis/model/module_paths.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "arrakis/hooks/hook_catalogue.hpp"

namespace arrakis {
namespace {

using K = HookKind;

// One module of a family: its path ({L}: the block), the points holding its output, the point holding its input
// (none for the embeddings, whose input is token ids).
struct Row {
  std::string_view pattern;
  std::vector<HookKind> outputs;
  std::optional<HookKind> input;
};

bool is_normalized(HookKind kind) {
  return kind == K::Ln1Normalized || kind == K::Ln2Normalized || kind == K::LnFinalNormalized ||
         kind == K::QNormNormalized || kind == K::KNormNormalized;
}

// A norm's hook_normalized is taken before the norm's own weight and bias: it is the module's output only when the
// norm has none (folded "Pre" norms).
bool weightless(const ModelConfig& c, HookKind kind) {
  const auto norm = kind == K::QNormNormalized || kind == K::KNormNormalized ? c.qk_norm : c.normalization;
  return norm == NormType::LayerNormPre || norm == NormType::RMSNormPre;
}

// The point holding exactly the tensor `kind` stands for: itself; for a norm's output in a model without that norm,
// the stream the norm would read (or nothing for a norm with weights, whose output no point holds).
std::optional<HookKind> exact_point(const ModelConfig& c, HookKind kind) {
  for (auto k = kind;;) {
    if (model_has(c, k)) {
      if (is_normalized(k) && !weightless(c, k)) return std::nullopt;
      return k;
    }
    if (k == K::Ln2Normalized)
      k = K::ResidMid;
    else if (k == K::ResidMid || k == K::Ln1Normalized)
      k = K::ResidPre;
    else if (k == K::LnFinalNormalized)
      k = K::ResidPost;
    else
      return std::nullopt;
  }
}

// Shared by GPT-2 and GPT-Neo: the blocks' and MLPs' names.
std::vector<Row> gpt2_like(std::vector<Row> attention) {
  std::vector<Row> rows = {{"wte", {K::Embed}, std::nullopt},
                           {"wpe", {K::PosEmbed}, std::nullopt},
                           {"h.{L}", {K::ResidPost}, K::ResidPre},
                           {"h.{L}.ln_1", {K::Ln1Normalized}, K::ResidPre}};
  rows.insert(rows.end(), attention.begin(), attention.end());
  rows.insert(rows.end(), {{"h.{L}.ln_2", {K::Ln2Normalized}, K::ResidMid},
                           {"h.{L}.mlp", {K::MlpOut}, K::Ln2Normalized},
                           {"h.{L}.mlp.c_fc", {K::MlpPre}, K::Ln2Normalized},
                           {"h.{L}.mlp.act", {K::MlpPost}, K::MlpPre},
                           {"h.{L}.mlp.c_proj", {K::MlpOut}, K::MlpPost},
                           {"ln_f", {K::LnFinalNormalized}, K::ResidPost}});
  return rows;
}

std::vector<Row> llama_like(const ModelConfig& c) {
  std::vector<Row> rows = {{"embed_tokens", {K::Embed}, std::nullopt},
                           {"layers.{L}", {K::ResidPost}, K::ResidPre},
                           {"layers.{L}.input_layernorm", {K::Ln1Normalized}, K::ResidPre},
                           {"layers.{L}.self_attn", {K::AttnOut}, K::Ln1Normalized}};
  if (c.family == "phi3") {
    rows.push_back({"layers.{L}.self_attn.qkv_proj", {K::Q, K::K, K::V}, K::Ln1Normalized});
  } else {
    rows.insert(rows.end(), {{"layers.{L}.self_attn.q_proj", {K::Q}, K::Ln1Normalized},
                             {"layers.{L}.self_attn.k_proj", {K::K}, K::Ln1Normalized},
                             {"layers.{L}.self_attn.v_proj", {K::V}, K::Ln1Normalized}});
  }
  if (c.family == "stable-lm")
    rows.insert(rows.end(), {{"layers.{L}.self_attn.q_layernorm", {K::QNormNormalized}, K::Q},
                             {"layers.{L}.self_attn.k_layernorm", {K::KNormNormalized}, K::K}});
  rows.insert(rows.end(), {{"layers.{L}.self_attn.o_proj", {K::AttnOut}, K::Z},
                           {"layers.{L}.post_attention_layernorm", {K::Ln2Normalized}, K::ResidMid},
                           {"layers.{L}.mlp", {K::MlpOut}, K::Ln2Normalized}});
  if (c.family == "phi3") {
    rows.push_back({"layers.{L}.mlp.gate_up_proj", {K::MlpPre, K::MlpPreLinear}, K::Ln2Normalized});
  } else {
    rows.insert(rows.end(), {{"layers.{L}.mlp.gate_proj", {K::MlpPre}, K::Ln2Normalized},
                             {"layers.{L}.mlp.up_proj", {K::MlpPreLinear}, K::Ln2Normalized}});
  }
  rows.insert(rows.end(),
              {{"layers.{L}.mlp.down_proj", {K::MlpOut}, K::MlpPost}, {"norm", {K::LnFinalNormalized}, K::ResidPost}});
  return rows;
}

// The family's root (the module path of the base model inside *ForCausalLM) and its modules.
std::pair<std::string, std::vector<Row>> family_modules(const ModelConfig& c) {
  if (c.family == "gpt2")
    return {"transformer.", gpt2_like({{"h.{L}.attn", {K::AttnOut}, K::Ln1Normalized},
                                       {"h.{L}.attn.c_attn", {K::Q, K::K, K::V}, K::Ln1Normalized},
                                       {"h.{L}.attn.c_proj", {K::AttnOut}, K::Z}})};
  if (c.family == "gpt-neo")
    return {"transformer.", gpt2_like({{"h.{L}.attn", {K::AttnOut}, K::Ln1Normalized},
                                       {"h.{L}.attn.attention", {K::AttnOut}, K::Ln1Normalized},
                                       {"h.{L}.attn.attention.q_proj", {K::Q}, K::Ln1Normalized},
                                       {"h.{L}.attn.attention.k_proj", {K::K}, K::Ln1Normalized},
                                       {"h.{L}.attn.attention.v_proj", {K::V}, K::Ln1Normalized},
                                       {"h.{L}.attn.attention.out_proj", {K::AttnOut}, K::Z}})};
  if (c.family == "gpt-neox")
    return {"gpt_neox.",
            {{"embed_in", {K::Embed}, std::nullopt},
             {"layers.{L}", {K::ResidPost}, K::ResidPre},
             {"layers.{L}.input_layernorm", {K::Ln1Normalized}, K::ResidPre},
             {"layers.{L}.attention", {K::AttnOut}, K::Ln1Normalized},
             {"layers.{L}.attention.query_key_value", {K::Q, K::K, K::V}, K::Ln1Normalized},
             {"layers.{L}.attention.dense", {K::AttnOut}, K::Z},
             {"layers.{L}.post_attention_layernorm", {K::Ln2Normalized}, K::ResidMid},
             {"layers.{L}.mlp", {K::MlpOut}, K::Ln2Normalized},
             {"layers.{L}.mlp.dense_h_to_4h", {K::MlpPre}, K::Ln2Normalized},
             {"layers.{L}.mlp.act", {K::MlpPost}, K::MlpPre},
             {"layers.{L}.mlp.dense_4h_to_h", {K::MlpOut}, K::MlpPost},
             {"final_layer_norm", {K::LnFinalNormalized}, K::ResidPost}}};
  if (c.family == "llama" || c.family == "mistral" || c.family == "qwen2" || c.family == "gemma" ||
      c.family == "phi3" || c.family == "stable-lm")
    return {"model.", llama_like(c)};
  return {"", {}};
}

// TransformerLens' HookedTransformer module names, for every model.
const std::vector<Row>& transformer_lens_modules() {
  static const std::vector<Row> rows = {{"embed", {K::Embed}, std::nullopt},
                                        {"pos_embed", {K::PosEmbed}, std::nullopt},
                                        {"blocks.{L}", {K::ResidPost}, K::ResidPre},
                                        {"blocks.{L}.ln1", {K::Ln1Normalized}, K::ResidPre},
                                        {"blocks.{L}.attn", {K::AttnOut}, K::Ln1Normalized},
                                        {"blocks.{L}.ln2", {K::Ln2Normalized}, K::ResidMid},
                                        {"blocks.{L}.mlp", {K::MlpOut}, K::Ln2Normalized},
                                        {"ln_final", {K::LnFinalNormalized}, K::ResidPost}};
  return rows;
}

void add_rows(const ModelConfig& c, const std::string& root, const std::vector<Row>& rows,
              std::vector<ModuleAlias>& out) {
  const auto per_layer = [&](const Row& row, int layer) {
    ModuleAlias alias{.short_path = std::string(row.pattern), .layer = layer};
    if (layer >= 0) alias.short_path.replace(alias.short_path.find("{L}"), 3, std::to_string(layer));
    alias.path = root + alias.short_path;
    for (auto kind : row.outputs) {
      // The model has no such module (an attention-only model's MLP), or no point holds its output exactly.
      if (!model_has(c, kind) || (is_normalized(kind) && !weightless(c, kind))) return;
      alias.outputs.push_back(hook_name(kind, hook_spec(kind).in_block() ? layer : -1));
    }
    if (auto input = row.input ? exact_point(c, *row.input) : std::nullopt) {
      // Outside blocks, a stream input is the last block's output (the final norm reads resid_post of the last layer).
      const int at = hook_spec(*input).in_block() ? (layer >= 0 ? layer : static_cast<int>(c.n_layers) - 1) : -1;
      alias.input = hook_name(*input, at);
    }
    out.push_back(std::move(alias));
  };
  // Forward order: the embeddings, each block's modules, then the final norm.
  const auto in_block = [](const Row& row) { return row.pattern.find("{L}") != std::string_view::npos; };
  const auto first_block = std::find_if(rows.begin(), rows.end(), in_block);
  for (auto it = rows.begin(); it != first_block; ++it) per_layer(*it, -1);
  for (int l = 0; l < c.n_layers; ++l)
    for (const auto& row : rows)
      if (in_block(row)) per_layer(row, l);
  for (auto it = first_block; it != rows.end(); ++it)
    if (!in_block(*it)) per_layer(*it, -1);
}

}  // namespace

nlohmann::json ModuleAlias::to_json() const {
  return {{"path", path}, {"short_path", short_path}, {"outputs", outputs}, {"input", input}, {"layer", layer}};
}

std::vector<ModuleAlias> module_aliases(const ModelConfig& config) {
  std::vector<ModuleAlias> out;
  const auto [root, rows] = family_modules(config);
  add_rows(config, root, rows, out);
  add_rows(config, "", transformer_lens_modules(), out);
  return out;
}

std::optional<ResolvedModule> resolve_module_path(const ModelConfig& config, std::string_view key) {
  bool input = false;
  for (auto [suffix, is_input] :
       {std::pair<std::string_view, bool>{".hook_result_pre", true}, {".hook_result_post", false}})
    if (key.ends_with(suffix)) {
      key.remove_suffix(suffix.size());
      input = is_input;
    }
  for (const auto& alias : module_aliases(config)) {
    const bool matches = alias.path == key || alias.short_path == key;
    if (!matches) continue;
    if (input && alias.input.empty()) return std::nullopt;
    return ResolvedModule{
        .module = alias, .hooks = input ? std::vector<std::string>{alias.input} : alias.outputs, .input = input};
  }
  return std::nullopt;
}

}  // namespace arrakis
