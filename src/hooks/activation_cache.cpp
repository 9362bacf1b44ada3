#include "arrakis/hooks/activation_cache.hpp"

#include <fmt/format.h>

#include "arrakis/error.hpp"
#include "arrakis/util/closest_names.hpp"

namespace arrakis {

std::string act_name(std::string_view name, std::optional<int> layer, std::string_view layer_type) {
  const std::string n(name);
  if (n.find('.') != std::string::npos || n.starts_with("hook_")) return n;  // already a full name
  if (n == "embed" || n == "pos_embed" || n == "tokens") return "hook_" + n;
  if (n == "scale" || n == "normalized") {
    if (!layer) return "ln_final.hook_" + n;
    std::string ln = layer_type.empty() ? "ln1" : std::string(layer_type);
    return fmt::format("blocks.{}.{}.hook_{}", *layer, ln, n);
  }
  if (!layer) throw Error(fmt::format("activation name '{}' needs a layer", n));
  static const std::vector<std::string> block_level = {"resid_pre", "resid_mid", "resid_post", "attn_out",
                                                       "mlp_out",   "attn_in",   "mlp_in",     "q_input",
                                                       "k_input",   "v_input"};
  static const std::vector<std::string> attention = {"q", "k", "v", "z", "rot_q", "rot_k", "result", "attn_scores",
                                                     "pattern"};
  static const std::vector<std::string> mlp = {"pre", "pre_linear", "post"};
  auto in = [&](const std::vector<std::string>& v) { return std::find(v.begin(), v.end(), n) != v.end(); };
  if (in(block_level)) return fmt::format("blocks.{}.hook_{}", *layer, n);
  if (in(attention)) return fmt::format("blocks.{}.attn.hook_{}", *layer, n);
  if (in(mlp)) return fmt::format("blocks.{}.mlp.hook_{}", *layer, n);
  // TransformerLens' aliases
  if (n == "attn" || n == "attn_pattern") return fmt::format("blocks.{}.attn.hook_pattern", *layer);
  if (n == "attn_logits") return fmt::format("blocks.{}.attn.hook_attn_scores", *layer);
  if (n == "mlp_post") return fmt::format("blocks.{}.mlp.hook_post", *layer);
  if (n == "mlp_pre") return fmt::format("blocks.{}.mlp.hook_pre", *layer);
  std::vector<std::string> all = block_level;
  all.insert(all.end(), attention.begin(), attention.end());
  all.insert(all.end(), mlp.begin(), mlp.end());
  throw Error(fmt::format("unknown activation name '{}'; closest: {}", n, quoted_list(closest_names(n, all, 3))));
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
