#include "arrakis/hooks/activation_cache.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "arrakis/error.hpp"
#include "arrakis/hooks/hook_catalogue.hpp"
#include "arrakis/util/closest_names.hpp"

namespace arrakis {

std::string act_name(std::string_view name, std::optional<int> layer, std::string_view layer_type) {
  const std::string n(name);
  if (n.find('.') != std::string::npos || n.starts_with("hook_")) return n;  // already a full name
  // Norm points share their short names ("scale", "normalized"): the layer type picks one, ln1 by default in a
  // block, ln_final outside.
  const std::string_view wanted_type = !layer_type.empty() ? layer_type : layer ? "ln1" : "ln_final";
  const HookSpec* found = nullptr;
  std::vector<std::string> known;
  for (const auto& spec : hook_catalogue()) {
    known.emplace_back(spec.short_name);
    const bool named =
        spec.short_name == n || std::find(spec.aliases.begin(), spec.aliases.end(), n) != spec.aliases.end();
    if (!named) continue;
    if (!spec.layer_type.empty() && spec.layer_type != wanted_type) continue;
    found = &spec;
    break;
  }
  if (!found) {
    std::sort(known.begin(), known.end());
    known.erase(std::unique(known.begin(), known.end()), known.end());
    throw Error(fmt::format("unknown activation name '{}'{}; closest: {}", n,
                            layer_type.empty() ? "" : fmt::format(" (layer type '{}')", layer_type),
                            quoted_list(closest_names(n, known, 3))));
  }
  if (found->in_block() && !layer) throw Error(fmt::format("activation name '{}' needs a layer", n));
  return found->name(layer.value_or(-1));
}

void ActivationCache::insert(const std::string& name, torch::Tensor activation) {
  auto [it, inserted] = index_.insert_or_assign(name, std::move(activation));
  if (inserted) names_.push_back(name);
}

const torch::Tensor& ActivationCache::operator[](const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end())
    throw Error(fmt::format("the activation cache holds no '{}' ({} cached; closest: {})", name, names_.size(),
                            quoted_list(closest_names(name, names_, 3))));
  return it->second;
}

const torch::Tensor& ActivationCache::at(std::string_view name, int layer, std::string_view layer_type) const {
  return (*this)[act_name(name, layer, layer_type)];
}

torch::Tensor ActivationCache::stack(std::string_view name, int n_layers, std::string_view layer_type) const {
  std::vector<torch::Tensor> parts;
  for (int l = 0; l < n_layers; ++l) parts.push_back(at(name, l, layer_type));
  return torch::stack(parts);
}

void ActivationCache::save(const std::filesystem::path& path, const NamedTensors& extra,
                           const std::map<std::string, std::string>& metadata) const {
  NamedTensors tensors = extra;
  for (const auto& n : names_) tensors.emplace_back(n, index_.at(n));
  save_safetensors(path, tensors, metadata);
}

ActivationCache ActivationCache::load(const std::filesystem::path& path) {
  ActivationCache cache;
  for (auto& [name, t] : load_safetensors(path)) cache.insert(name, t);
  return cache;
}

ActivationCache ActivationCache::to(torch::Device device) const {
  ActivationCache out;
  for (const auto& n : names_) out.insert(n, index_.at(n).to(device));
  return out;
}

ActivationCache ActivationCache::to(torch::Dtype dtype) const {
  ActivationCache out;
  for (const auto& n : names_) {
    const auto& t = index_.at(n);
    out.insert(n, t.is_floating_point() ? t.to(dtype) : t);
  }
  return out;
}

int64_t ActivationCache::nbytes() const {
  int64_t total = 0;
  for (const auto& [n, t] : index_) total += t.numel() * static_cast<int64_t>(t.element_size());
  return total;
}

}  // namespace arrakis
