#include "arrakis/hooks/hook_catalogue.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "arrakis/error.hpp"

namespace arrakis {
namespace {

using K = HookKind;
using P = HookPresence;
using O = HookOptIn;

// The table, one point per entry: kept as written (a formatter would put every field on a line of its own).
// clang-format off
std::vector<HookSpec> make_catalogue() {
  using B = BlockHookIds;
  return {
      {K::Embed, "hook_embed", "embed", "", {}, "[b, p, d]",
       "token embedding `W_E[tokens]` (times the embedding multiplier where a family has one)"},
      {K::PosEmbed, "hook_pos_embed", "pos_embed", "", {}, "[b, p, d]",
       "learned positional embedding `W_pos[positions]`", P::LearnedPositions},
      {K::ResidPre, "blocks.{L}.hook_resid_pre", "resid_pre", "", {}, "[b, p, d]", "residual stream entering block L",
       P::Always, O::None, &B::resid_pre},
      {K::AttnIn, "blocks.{L}.hook_attn_in", "attn_in", "", {}, "[b, p, h, d]",
       "the residual stream as each head's attention reads it, one copy per head (not for grouped-query models)",
       P::Always, O::AttnIn, &B::attn_in},
      {K::QInput, "blocks.{L}.hook_q_input", "q_input", "", {}, "[b, p, h, d]",
       "the residual stream as each head's queries read it (path patching into one head's queries)", P::Always,
       O::SplitQkvInput, &B::q_input},
      {K::KInput, "blocks.{L}.hook_k_input", "k_input", "", {}, "[b, p, g, d]",
       "the residual stream as each key/value head's keys read it", P::Always, O::SplitQkvInput, &B::k_input},
      {K::VInput, "blocks.{L}.hook_v_input", "v_input", "", {}, "[b, p, g, d]",
       "the residual stream as each key/value head's values read it", P::Always, O::SplitQkvInput, &B::v_input},
      {K::Ln1Scale, "blocks.{L}.ln1.hook_scale", "scale", "ln1", {}, "[b, p, 1]",
       "`sqrt(mean(x'²) + eps)` where `x'` is the input, centred for LayerNorm", P::Normalization, O::None,
       &B::ln1_scale},
      {K::Ln1Normalized, "blocks.{L}.ln1.hook_normalized", "normalized", "ln1", {}, "[b, p, d]",
       "`x' / scale`: before the norm's weight and bias", P::Normalization, O::None, &B::ln1_normalized},
      {K::Q, "blocks.{L}.attn.hook_q", "q", "", {}, "[b, p, h, e]", "queries, bias included, before rotary",
       P::Always, O::None, &B::q},
      {K::K, "blocks.{L}.attn.hook_k", "k", "", {}, "[b, p, g, e]",
       "keys, one per key/value head (not repeated for grouped-query models)", P::Always, O::None, &B::k},
      {K::V, "blocks.{L}.attn.hook_v", "v", "", {}, "[b, p, g, e]", "values, one per key/value head", P::Always,
       O::None, &B::v},
      {K::QNormScale, "blocks.{L}.attn.q_norm.hook_scale", "scale", "q_norm", {}, "[b, p, h, 1]",
       "the per-head norm of the queries (StableLM `qk_layernorm`), as ln1's scale", P::QkNorm, O::None,
       &B::q_norm_scale},
      {K::QNormNormalized, "blocks.{L}.attn.q_norm.hook_normalized", "normalized", "q_norm", {}, "[b, p, h, e]",
       "the queries divided by their scale", P::QkNorm, O::None, &B::q_norm_normalized},
      {K::KNormScale, "blocks.{L}.attn.k_norm.hook_scale", "scale", "k_norm", {}, "[b, p, g, 1]",
       "the per-head norm of the keys, as ln1's scale", P::QkNorm, O::None, &B::k_norm_scale},
      {K::KNormNormalized, "blocks.{L}.attn.k_norm.hook_normalized", "normalized", "k_norm", {}, "[b, p, g, e]",
       "the keys divided by their scale", P::QkNorm, O::None, &B::k_norm_normalized},
      {K::RotQ, "blocks.{L}.attn.hook_rot_q", "rot_q", "", {}, "[b, p, h, e]", "queries after rotary", P::Rotary,
       O::None, &B::rot_q},
      {K::RotK, "blocks.{L}.attn.hook_rot_k", "rot_k", "", {}, "[b, p, g, e]", "keys after rotary", P::Rotary,
       O::None, &B::rot_k},
      {K::AttnScores, "blocks.{L}.attn.hook_attn_scores", "attn_scores", "", {"attn_logits"}, "[b, h, p, k]",
       "`q·k / attn_scale`, masked: `-inf` where a key is in the future, padded, or outside a local window", P::Always,
       O::None, &B::attn_scores},
      {K::Pattern, "blocks.{L}.attn.hook_pattern", "pattern", "", {"attn", "attn_pattern"}, "[b, h, p, k]",
       "softmax of the scores; rows sum to 1", P::Always, O::None, &B::pattern},
      {K::Z, "blocks.{L}.attn.hook_z", "z", "", {}, "[b, p, h, e]", "pattern-weighted values, per head, before `W_O`",
       P::Always, O::None, &B::z},
      {K::Result, "blocks.{L}.attn.hook_result", "result", "", {}, "[b, p, h, d]", "per-head output `z_h W_O[h]`",
       P::Always, O::AttnResult, &B::result},
      {K::AttnOut, "blocks.{L}.hook_attn_out", "attn_out", "", {}, "[b, p, d]", "attention output: `Σ_h result_h + b_O`",
       P::Always, O::None, &B::attn_out},
      {K::ResidMid, "blocks.{L}.hook_resid_mid", "resid_mid", "", {}, "[b, p, d]",
       "`resid_pre + attn_out` (models with MLPs and sequential attention/MLP)", P::SequentialMlp, O::None,
       &B::resid_mid},
      {K::MlpIn, "blocks.{L}.hook_mlp_in", "mlp_in", "", {}, "[b, p, d]", "the MLP's input before ln2", P::Mlp,
       O::MlpIn, &B::mlp_in},
      {K::Ln2Scale, "blocks.{L}.ln2.hook_scale", "scale", "ln2", {}, "[b, p, 1]", "the MLP's normalization, as ln1's",
       P::MlpNorm, O::None, &B::ln2_scale},
      {K::Ln2Normalized, "blocks.{L}.ln2.hook_normalized", "normalized", "ln2", {}, "[b, p, d]",
       "the MLP's normalized input, as ln1's", P::MlpNorm, O::None, &B::ln2_normalized},
      {K::MlpPre, "blocks.{L}.mlp.hook_pre", "pre", "", {"mlp_pre"}, "[b, p, m]",
       "pre-activation (for gated MLPs, of the gate branch `x W_gate`)", P::Mlp, O::None, &B::mlp_pre},
      {K::MlpPreLinear, "blocks.{L}.mlp.hook_pre_linear", "pre_linear", "", {}, "[b, p, m]",
       "the linear branch `x W_in + b_in` of a gated MLP", P::GatedMlp, O::None, &B::mlp_pre_linear},
      {K::MlpPost, "blocks.{L}.mlp.hook_post", "post", "", {"mlp_post"}, "[b, p, m]",
       "activation output (for gated MLPs, `act(pre) * pre_linear`)", P::Mlp, O::None, &B::mlp_post},
      {K::MlpOut, "blocks.{L}.hook_mlp_out", "mlp_out", "", {}, "[b, p, d]", "MLP output", P::Mlp, O::None,
       &B::mlp_out},
      {K::ResidPost, "blocks.{L}.hook_resid_post", "resid_post", "", {}, "[b, p, d]",
       "residual stream leaving block L (= `resid_pre` of block L+1)", P::Always, O::None, &B::resid_post},
      {K::LnFinalScale, "ln_final.hook_scale", "scale", "ln_final", {}, "[b, p, 1]", "the final normalization, as ln1's",
       P::Normalization},
      {K::LnFinalNormalized, "ln_final.hook_normalized", "normalized", "ln_final", {}, "[b, p, d]",
       "the final normalized residual stream, before the norm's weight and bias", P::Normalization},
  };
}
// clang-format on

std::string_view presence_text(HookPresence p) {
  switch (p) {
    case P::Always: return "every model";
    case P::LearnedPositions: return "learned positions";
    case P::Normalization: return "normalized models";
    case P::QkNorm: return "query/key norms";
    case P::Rotary: return "rotary models";
    case P::Mlp: return "models with MLPs";
    case P::SequentialMlp: return "MLP after attention";
    case P::MlpNorm: return "an MLP norm (no shared ln1)";
    case P::GatedMlp: return "gated MLPs";
  }
  return "";
}

std::string_view opt_in_call(HookOptIn o) {
  switch (o) {
    case O::AttnResult: return "set_use_attn_result(true)";
    case O::SplitQkvInput: return "set_use_split_qkv_input(true)";
    case O::AttnIn: return "set_use_attn_in(true)";
    case O::MlpIn: return "set_use_hook_mlp_in(true)";
    case O::None: break;
  }
  return "";
}

}  // namespace

const std::vector<HookSpec>& hook_catalogue() {
  static const std::vector<HookSpec> catalogue = [] {
    auto c = make_catalogue();
    for (std::size_t i = 0; i < c.size(); ++i)  // the table is indexed by kind: keep it in the enum's order
      if (static_cast<std::size_t>(c[i].kind) != i) throw std::logic_error("hook catalogue out of order");
    return c;
  }();
  return catalogue;
}

const HookSpec& hook_spec(HookKind kind) { return hook_catalogue().at(static_cast<std::size_t>(kind)); }

std::string HookSpec::name(int layer) const {
  const std::string p(pattern);
  const auto at = p.find("{L}");
  if (at == std::string::npos) return p;
  if (layer < 0) throw Error(fmt::format("hook point '{}' is in a block: give a layer", p));
  return p.substr(0, at) + std::to_string(layer) + p.substr(at + 3);
}

nlohmann::json HookSpec::to_json() const {
  nlohmann::json alias_list = nlohmann::json::array();
  for (auto a : aliases) alias_list.push_back(std::string(a));
  return {{"pattern", std::string(pattern)},
          {"short_name", std::string(short_name)},
          {"layer_type", std::string(layer_type)},
          {"aliases", alias_list},
          {"in_block", in_block()},
          {"shape", std::string(shape)},
          {"meaning", std::string(meaning)},
          {"models", std::string(presence_text(presence))},
          {"opt_in", std::string(opt_in_call(opt_in))}};
}

bool model_has(const ModelConfig& c, HookKind kind) {
  const bool norm = c.normalization != NormType::None;
  switch (hook_spec(kind).presence) {
    case P::Always: return true;
    case P::LearnedPositions: return c.positional_embedding == PositionalEmbedding::Learned;
    case P::Normalization: return norm;
    case P::QkNorm: return c.qk_norm != NormType::None;
    case P::Rotary: return c.positional_embedding == PositionalEmbedding::Rotary;
    case P::Mlp: return c.has_mlp();
    case P::SequentialMlp: return c.has_mlp() && !c.parallel_attn_mlp;
    case P::MlpNorm: return c.has_mlp() && norm && !c.parallel_shared_norm;
    case P::GatedMlp: return c.has_mlp() && c.gated_mlp;
  }
  return false;
}

std::string hook_name(HookKind kind, int layer) { return hook_spec(kind).name(layer); }

std::optional<std::pair<HookKind, int>> parse_hook_name(std::string_view name) {
  int layer = -1;
  std::string pattern(name);
  if (name.starts_with("blocks.")) {
    auto digits_end = name.find('.', 7);
    if (digits_end == std::string_view::npos || digits_end == 7) return std::nullopt;
    auto digits = name.substr(7, digits_end - 7);
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), layer);
    if (ec != std::errc() || ptr != digits.data() + digits.size() || layer < 0) return std::nullopt;
    pattern = "blocks.{L}" + std::string(name.substr(digits_end));
  }
  for (const auto& spec : hook_catalogue())
    if (spec.pattern == pattern) return std::pair{spec.kind, spec.in_block() ? layer : -1};
  return std::nullopt;
}

std::string how_to_enable(HookOptIn opt_in) {
  switch (opt_in) {
    case O::AttnResult: return "call set_use_attn_result(true) to compute per-head outputs";
    case O::SplitQkvInput: return "call set_use_split_qkv_input(true) to give q, k and v separate inputs";
    case O::AttnIn: return "call set_use_attn_in(true) to give each head its own input";
    case O::MlpIn: return "call set_use_hook_mlp_in(true) to hook the MLP input";
    case O::None: break;
  }
  return {};
}

std::vector<int64_t> hook_shape(const ModelConfig& c, HookKind kind, int64_t batch, int64_t positions) {
  std::vector<int64_t> shape;
  for (char letter : hook_spec(kind).shape) {
    switch (letter) {
      case 'b': shape.push_back(batch); break;
      case 'p':
      case 'k': shape.push_back(positions); break;
      case 'h': shape.push_back(c.n_heads); break;
      case 'g': shape.push_back(c.kv_heads()); break;
      case 'e': shape.push_back(c.d_head); break;
      case 'd': shape.push_back(c.d_model); break;
      case 'm': shape.push_back(c.d_mlp); break;
      case '1': shape.push_back(1); break;
      default: break;  // brackets, commas, spaces
    }
  }
  return shape;
}

NameFilter hook_kinds(std::vector<HookKind> kinds) {
  return NameFilter([kinds = std::move(kinds)](const std::string& name) {
    auto parsed = parse_hook_name(name);
    return parsed && std::find(kinds.begin(), kinds.end(), parsed->first) != kinds.end();
  });
}

std::string hook_catalogue_markdown() {
  std::string out = "| hook point | shape | models | meaning |\n|---|---|---|---|\n";
  for (const auto& spec : hook_catalogue()) {
    std::string models(presence_text(spec.presence));
    if (spec.opt_in != O::None) models += fmt::format(", opt-in: `{}`", opt_in_call(spec.opt_in));
    const std::string_view full(spec.pattern);
    const auto at = full.find("{L}");
    const std::string pattern = at == std::string_view::npos
                                    ? std::string(full)
                                    : fmt::format("{}L{}", full.substr(0, at), full.substr(at + 3));
    out += fmt::format("| `{}` | `{}` | {} | {} |\n", pattern, spec.shape, models, spec.meaning);
  }
  return out;
}

}  // namespace arrakis
