#pragma once
// What a patching experiment patches: one kind of activation (TransformerLens' names) and how its cells are indexed.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace arrakis {

struct ModelConfig;
enum class HookKind;

/// The activations activation, attribution and path patching act on. The first five are residual-stream-shaped
/// [batch, pos, d_model] and are patched by layer × position; the rest are per head.
enum class PatchComponent { ResidPre, ResidMid, ResidPost, AttnOut, MlpOut, Z, Q, K, V, Pattern };

/// "resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out", "z", "q", "k", "v", "pattern".
std::string_view patch_component_name(PatchComponent component);
/// The inverse of patch_component_name; arrakis::Error listing the valid names otherwise.
PatchComponent parse_patch_component(std::string_view name);
std::vector<std::string> patch_component_names();

/// z, q, k, v and pattern.
bool is_head_component(PatchComponent component);
/// The kind of hook point a component patches (hook_catalogue.hpp).
HookKind patch_hook_kind(PatchComponent component);
/// The hook point of `component` in block `layer`, e.g. "blocks.3.attn.hook_z"; arrakis::Error when the model has
/// no such point (resid_mid of attention-only or parallel models, mlp_out of attention-only models).
std::string patch_hook_name(const ModelConfig& config, PatchComponent component, int layer);
/// Heads a head component is indexed by: key/value heads for k and v (grouped-query models keep one k and one v
/// per key/value head, see docs/hooks.md), query heads for z, q and pattern; 0 for residual-stream components.
int64_t patch_heads(const ModelConfig& config, PatchComponent component);

}  // namespace arrakis
