#include "arrakis/analysis/patch_component.hpp"

#include <fmt/format.h>

#include <array>
#include <utility>

#include "arrakis/error.hpp"
#include "arrakis/hooks/hook_catalogue.hpp"
#include "arrakis/model/config.hpp"
#include "arrakis/util/closest_names.hpp"

namespace arrakis {
namespace {

constexpr std::array<std::pair<PatchComponent, std::string_view>, 10> kNames{{
    {PatchComponent::ResidPre, "resid_pre"},
    {PatchComponent::ResidMid, "resid_mid"},
    {PatchComponent::ResidPost, "resid_post"},
    {PatchComponent::AttnOut, "attn_out"},
    {PatchComponent::MlpOut, "mlp_out"},
    {PatchComponent::Z, "z"},
    {PatchComponent::Q, "q"},
    {PatchComponent::K, "k"},
    {PatchComponent::V, "v"},
    {PatchComponent::Pattern, "pattern"},
}};

}  // namespace

std::string_view patch_component_name(PatchComponent component) {
  for (const auto& [c, name] : kNames)
    if (c == component) return name;
  return "?";
}

std::vector<std::string> patch_component_names() {
  std::vector<std::string> names;
  for (const auto& entry : kNames) names.emplace_back(entry.second);
  return names;
}

PatchComponent parse_patch_component(std::string_view name) {
  for (const auto& [c, n] : kNames)
    if (n == name) return c;
  throw Error(
      fmt::format("unknown patching component '{}' (expected one of {})", name, quoted_list(patch_component_names())));
}

bool is_head_component(PatchComponent component) {
  switch (component) {
    case PatchComponent::Z:
    case PatchComponent::Q:
    case PatchComponent::K:
    case PatchComponent::V:
    case PatchComponent::Pattern: return true;
    default: return false;
  }
}

HookKind patch_hook_kind(PatchComponent component) {
  switch (component) {
    case PatchComponent::ResidPre: return HookKind::ResidPre;
    case PatchComponent::ResidMid: return HookKind::ResidMid;
    case PatchComponent::ResidPost: return HookKind::ResidPost;
    case PatchComponent::AttnOut: return HookKind::AttnOut;
    case PatchComponent::MlpOut: return HookKind::MlpOut;
    case PatchComponent::Z: return HookKind::Z;
    case PatchComponent::Q: return HookKind::Q;
    case PatchComponent::K: return HookKind::K;
    case PatchComponent::V: return HookKind::V;
    case PatchComponent::Pattern: return HookKind::Pattern;
  }
  throw Error("unknown patching component");
}

std::string patch_hook_name(const ModelConfig& config, PatchComponent component, int layer) {
  if (layer < 0 || layer >= config.n_layers)
    throw Error(fmt::format("layer {} is not a layer of the model (0..{})", layer, config.n_layers - 1));
  const HookKind kind = patch_hook_kind(component);
  if (!model_has(config, kind))
    throw Error(fmt::format("component {}: the model has no {} ({})", patch_component_name(component),
                            hook_name(kind, layer),
                            kind == HookKind::ResidMid ? "attention-only or parallel attention and MLP blocks have no "
                                                         "residual stream between them"
                                                       : "the model is attention-only"));
  return hook_name(kind, layer);
}

int64_t patch_heads(const ModelConfig& config, PatchComponent component) {
  if (!is_head_component(component)) return 0;
  if (component == PatchComponent::K || component == PatchComponent::V) return config.kv_heads();
  return config.n_heads;
}

}  // namespace arrakis
