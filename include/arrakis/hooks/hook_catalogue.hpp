#pragma once
// The hook-point catalogue: every hook point a model can have, once — its name pattern, which models have it, its
// shape, what it holds, and whether it is opt-in. The model declares its points from it; TransformerLens' short names
// (act_name), the patching components, the profiler's boundaries, the analyses' look-ups, `arrakis hooks` and
// docs/hooks.md all derive from it. Names and meanings follow TransformerLens.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "arrakis/hooks/hook_point.hpp"
#include "arrakis/model/config.hpp"

namespace arrakis {

/// The hook-point ids of one transformer block, in forward order (-1 where the block has no such point).
struct BlockHookIds {
  int resid_pre = -1;
  int attn_in = -1, q_input = -1, k_input = -1, v_input = -1;
  int ln1_scale = -1, ln1_normalized = -1;
  int q = -1, k = -1, v = -1;
  int q_norm_scale = -1, q_norm_normalized = -1, k_norm_scale = -1, k_norm_normalized = -1;
  int rot_q = -1, rot_k = -1;
  int attn_scores = -1, pattern = -1, z = -1, result = -1;
  int attn_out = -1, resid_mid = -1;
  int mlp_in = -1, ln2_scale = -1, ln2_normalized = -1;
  int mlp_pre = -1, mlp_pre_linear = -1, mlp_post = -1, mlp_out = -1;
  int resid_post = -1;
};

// X(Kind, handle): every kind of hook point in forward order, with the name of its typed handle (hooks::z(9)).
#define ARRAKIS_HOOK_KINDS(X)           \
  X(Embed, embed)                       \
  X(PosEmbed, pos_embed)                \
  X(ResidPre, resid_pre)                \
  X(AttnIn, attn_in)                    \
  X(QInput, q_input)                    \
  X(KInput, k_input)                    \
  X(VInput, v_input)                    \
  X(Ln1Scale, ln1_scale)                \
  X(Ln1Normalized, ln1_normalized)      \
  X(Q, q)                               \
  X(K, k)                               \
  X(V, v)                               \
  X(QNormScale, q_norm_scale)           \
  X(QNormNormalized, q_norm_normalized) \
  X(KNormScale, k_norm_scale)           \
  X(KNormNormalized, k_norm_normalized) \
  X(RotQ, rot_q)                        \
  X(RotK, rot_k)                        \
  X(AttnScores, attn_scores)            \
  X(Pattern, pattern)                   \
  X(Z, z)                               \
  X(Result, result)                     \
  X(AttnOut, attn_out)                  \
  X(ResidMid, resid_mid)                \
  X(MlpIn, mlp_in)                      \
  X(Ln2Scale, ln2_scale)                \
  X(Ln2Normalized, ln2_normalized)      \
  X(MlpPre, mlp_pre)                    \
  X(MlpPreLinear, mlp_pre_linear)       \
  X(MlpPost, mlp_post)                  \
  X(MlpOut, mlp_out)                    \
  X(ResidPost, resid_post)              \
  X(LnFinalScale, ln_final_scale)       \
  X(LnFinalNormalized, ln_final_normalized)

enum class HookKind {
#define ARRAKIS_HOOK_KIND_ENUM(kind, handle) kind,
  ARRAKIS_HOOK_KINDS(ARRAKIS_HOOK_KIND_ENUM)
#undef ARRAKIS_HOOK_KIND_ENUM
};

/// Which models have a point.
enum class HookPresence {
  Always,
  LearnedPositions,  // learned positional embeddings
  Normalization,     // any residual-stream normalization
  QkNorm,            // a per-head norm of queries and keys (StableLM qk_layernorm)
  Rotary,            // rotary positions
  Mlp,               // not attention-only
  SequentialMlp,     // an MLP after the attention (not parallel): the stream between them exists
  MlpNorm,           // a normalization of its own before the MLP (not parallel blocks sharing ln1)
  GatedMlp,          // gated MLPs (SwiGLU, GeGLU)
};

/// Points that exist but are off until turned on (they cost memory or a slower path), as in TransformerLens.
enum class HookOptIn { None, AttnResult, SplitQkvInput, AttnIn, MlpIn };

struct HookSpec {
  HookKind kind;
  std::string_view pattern;               // "blocks.{L}.attn.hook_z"; points outside blocks have no {L}
  std::string_view short_name;            // TransformerLens' get_act_name spelling: "z", "resid_pre", "scale", ...
  std::string_view layer_type;            // norm points: "ln1", "ln2", "q_norm", "k_norm", "ln_final"; empty otherwise
  std::vector<std::string_view> aliases;  // other get_act_name spellings ("attn" for the pattern, ...)
  std::string_view shape;                 // in the letters of docs/hooks.md: "[b, p, h, e]"
  std::string_view meaning;
  HookPresence presence = HookPresence::Always;
  HookOptIn opt_in = HookOptIn::None;
  int BlockHookIds::*slot = nullptr;  // block points: where a model keeps the point's id

  bool in_block() const { return slot != nullptr; }
  /// The name in block `layer` (ignored outside blocks), e.g. "blocks.9.attn.hook_z".
  std::string name(int layer = -1) const;
  nlohmann::json to_json() const;
};

/// Every kind, in forward order.
const std::vector<HookSpec>& hook_catalogue();
const HookSpec& hook_spec(HookKind kind);

/// Whether a model with `config` has the point (opt-in points count: they exist, switched off).
bool model_has(const ModelConfig& config, HookKind kind);
/// The full name; arrakis::Error when a block point is asked for without a layer.
std::string hook_name(HookKind kind, int layer = -1);
/// The kind and layer (-1 outside blocks) of a full name; nullopt for a name that is no hook point's.
std::optional<std::pair<HookKind, int>> parse_hook_name(std::string_view name);
/// What turns an opt-in point on ("call set_use_attn_result(true) to compute per-head outputs").
std::string how_to_enable(HookOptIn opt_in);
/// The concrete shape of a point for a config, a batch and a number of positions (keys = positions).
std::vector<int64_t> hook_shape(const ModelConfig& config, HookKind kind, int64_t batch, int64_t positions);

/// A typed hook name: converts to the string every API takes (add_hook, caches, filters).
struct HookRef {
  HookKind kind;
  int layer = -1;
  std::string str() const { return hook_name(kind, layer); }
  operator std::string() const { return str(); }  // NOLINT(google-explicit-constructor): used where names go
};

/// Typed handles, one per kind: hooks::z(9) is "blocks.9.attn.hook_z", hooks::embed() is "hook_embed".
namespace hooks {
#define ARRAKIS_HOOK_HANDLE(kind, handle) \
  inline HookRef handle(int layer = -1) { return HookRef{HookKind::kind, layer}; }
ARRAKIS_HOOK_KINDS(ARRAKIS_HOOK_HANDLE)
#undef ARRAKIS_HOOK_HANDLE
}  // namespace hooks

/// A filter selecting every hook point of these kinds, in every layer (for run_with_cache and add_hook).
NameFilter hook_kinds(std::vector<HookKind> kinds);

/// docs/hooks.md's table of points, generated from the catalogue (a test checks the file holds it).
std::string hook_catalogue_markdown();

}  // namespace arrakis
