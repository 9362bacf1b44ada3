#pragma once
// Hugging Face module paths as aliases of hook points: `model.layers.1.self_attn` is the hook point holding that
// module's output (blocks.1.hook_attn_out), `h.1.attn.c_attn` the points holding the fused projection's outputs
// (hook_q, hook_k, hook_v), so that code written against a Hugging Face model's modules (the seeds' PlotSpec
// data_keys, nnsight-style paths) finds the same tensors. Each family's table lives here, once; TransformerLens' own
// module names (blocks.1.attn, blocks.1.mlp, ...) are aliases for every model.
//
// An alias names a point only where the point holds exactly the module's tensor (for the weights as the checkpoint
// has them; weight processing such as centring changes what some modules output): a norm's hook_normalized is taken
// before the norm's weight and bias, so a norm with weights has no alias, and modules reading a norm's output have no
// input alias, unless the norms are folded ("Pre") or absent.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "arrakis/model/config.hpp"

namespace arrakis {

struct ModuleAlias {
  std::string path;                  // the full module path, "model.layers.1.self_attn"
  std::string short_path;            // without the family's root prefix, "layers.1.self_attn" (the seeds' form)
  std::vector<std::string> outputs;  // hook points holding the module's output, in order
  std::string input;                 // the hook point holding its input ("": none holds exactly that)
  int layer = -1;                    // the block it sits in (-1: outside blocks)

  nlohmann::json to_json() const;
};

/// Every alias of a model with `config`, in forward order: its family's Hugging Face module paths (with the
/// family's root prefix, "transformer." / "model." / "gpt_neox."), then TransformerLens' module names. Only modules
/// the model has (no MLP aliases for attention-only models).
std::vector<ModuleAlias> module_aliases(const ModelConfig& config);

/// The hook points a module path names: its outputs, or with the original Arrakis' suffix ".hook_result_pre" its
/// input (".hook_result_post": its outputs). The root prefix may be left out ("h.1.attn", "layers.1.mlp"). nullopt
/// when no module of the model has that path.
struct ResolvedModule {
  ModuleAlias module;
  std::vector<std::string> hooks;  // what the key names: the outputs or {input}
  bool input = false;
};
std::optional<ResolvedModule> resolve_module_path(const ModelConfig& config, std::string_view key);

}  // namespace arrakis
