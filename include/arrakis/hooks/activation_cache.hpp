#pragma once
// ActivationCache: the activations of one forward pass, by hook-point name.
#include <torch/types.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "arrakis/io/safetensors.hpp"

namespace arrakis {

/// The full hook-point name for TransformerLens' short names, as `utils.get_act_name` does:
/// act_name("resid_pre", 3) == "blocks.3.hook_resid_pre", act_name("pattern", 0) == "blocks.0.attn.hook_pattern",
/// act_name("post", 1) == "blocks.1.mlp.hook_post", act_name("scale", 2, "ln1") == "blocks.2.ln1.hook_scale",
/// act_name("embed") == "hook_embed", act_name("scale") == "ln_final.hook_scale". Full names pass through unchanged.
std::string act_name(std::string_view name, std::optional<int> layer = std::nullopt, std::string_view layer_type = {});

class ActivationCache {
 public:
  /// Stores (or replaces) an activation; insertion order is kept (the forward order).
  void insert(const std::string& name, torch::Tensor activation);

  bool contains(const std::string& name) const { return index_.count(name) > 0; }
  std::size_t size() const { return names_.size(); }
  bool empty() const { return names_.empty(); }
  const std::vector<std::string>& names() const { return names_; }

  /// By full hook-point name; arrakis::Error listing the closest cached names when absent.
  const torch::Tensor& operator[](const std::string& name) const;
  /// By TransformerLens short name and layer: cache.at("resid_pre", 3), cache.at("scale", 0, "ln1").
  const torch::Tensor& at(std::string_view name, int layer, std::string_view layer_type = {}) const;
  /// One activation of every layer stacked on a new leading dimension: [n_layers, ...].
  torch::Tensor stack(std::string_view name, int n_layers, std::string_view layer_type = {}) const;

  /// Writes every activation to a safetensors file under its hook name, plus optional extra tensors and metadata.
  void save(const std::filesystem::path& path, const NamedTensors& extra = {},
            const std::map<std::string, std::string>& metadata = {}) const;
  /// Reads a cache written by save() (every tensor of the file becomes an entry).
  static ActivationCache load(const std::filesystem::path& path);

  /// A copy with every activation moved/converted.
  ActivationCache to(torch::Device device) const;
  ActivationCache to(torch::Dtype dtype) const;
  /// Bytes held by the cached tensors.
  int64_t nbytes() const;

  auto begin() const { return names_.begin(); }
  auto end() const { return names_.end(); }

 private:
  std::vector<std::string> names_;
  std::unordered_map<std::string, torch::Tensor> index_;
};

}  // namespace arrakis
