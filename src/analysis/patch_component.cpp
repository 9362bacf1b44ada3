#include "arrakis/analysis/patch_component.hpp"

#include <fmt/format.h>

#include <array>
#include <utility>

#include "arrakis/error.hpp"
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
  throw Error(fmt::format("unknown patching component '{}' (expected one of {})", name,
                          quoted_list(patch_component_names())));
}

bool is_head_component(PatchComponent component) {
  switch (component) {
    case PatchComponent::Z:
    case PatchComponent::Q:
    case PatchComponent::K:
    case PatchComponent::V:
    case PatchComponent::Pattern:
      return true;
    default:
      return false;
  }
}

std::string patch_hook_name(const ModelConfig& config, PatchComponent component, int layer) {
  if (layer < 0 || layer >= config.n_layers)
    throw Error(fmt::format("layer {} is not a layer of the model (0..{})", layer, config.n_layers - 1));
  auto block = [&](std::string_view part) { return fmt::format("blocks.{}.{}", layer, part); };
  switch (component) {
    case PatchComponent::ResidPre: return block("hook_resid_pre");
    case PatchComponent::ResidMid:
      if (!config.has_mlp() || config.parallel_attn_mlp)
        throw Error(fmt::format("component resid_mid: the model has no {} (attention-only or parallel attention and "
                                "MLP blocks have no residual stream between them)", block("hook_resid_mid")));
      return block("hook_resid_mid");
    case PatchComponent::ResidPost: return block("hook_resid_post");
    case PatchComponent::AttnOut: return block("hook_attn_out");
    case PatchComponent::MlpOut:
      if (!config.has_mlp())
        throw Error(fmt::format("component mlp_out: the model is attention-only (no {})", block("hook_mlp_out")));
      return block("hook_mlp_out");
    case PatchComponent::Z: return block("attn.hook_z");
    case PatchComponent::Q: return block("attn.hook_q");
    case PatchComponent::K: return block("attn.hook_k");
    case PatchComponent::V: return block("attn.hook_v");
    case PatchComponent::Pattern: return block("attn.hook_pattern");
  }
  throw Error("unknown patching component");
}

int64_t patch_heads(const ModelConfig& config, PatchComponent component) {
  if (!is_head_component(component)) return 0;
  if (component == PatchComponent::K || component == PatchComponent::V) return config.kv_heads();
  return config.n_heads;
}

}  // namespace arrakis
