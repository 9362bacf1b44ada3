#pragma once
// Where a forward pass spends its time and memory: per component (embedding, each norm, each attention, each MLP,
// the final norm, the unembedding), per layer and in total.
//
// Component boundaries are the model's own hook points (blocks.L.ln1.hook_normalized, hook_attn_out,
// ln2.hook_normalized, hook_mlp_out, hook_resid_post, ...): a hook at each takes a timestamp, so the components
// partition the forward exactly, and the time between two boundaries belongs to the component that ends at the
// second (a norm's weight and bias, applied after hook_normalized, count towards the attention or MLP that reads
// them; a residual addition towards the attention or MLP whose output it adds). Memory is what LibTorch's CPU
// allocator hands out while the component runs, counted by an allocator that wraps it for the duration.
#include <torch/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "arrakis/model/hooked_transformer.hpp"

namespace arrakis {

struct ComponentProfile {
  std::string name;  // "embed", "blocks.0.ln1", "blocks.0.attn", "blocks.0.mlp", "ln_final", "unembed"
  std::string kind;  // "embedding", "norm", "attention", "mlp", "unembedding"
  int layer = -1;    // -1 outside the blocks
  double seconds = 0;
  int64_t allocated_bytes = 0;  // bytes allocated while it ran (freed or not)
  int64_t peak_bytes = 0;       // the most bytes live at once above what was live when it started
};

struct LayerProfile {
  int layer = -1;
  double seconds = 0;
  int64_t allocated_bytes = 0;
};

struct ModelProfile {
  std::vector<ComponentProfile> components;  // in forward order
  double forward_seconds = 0;                // wall time of the profiled forward; the components' times add up to it
  int64_t allocated_bytes = 0;               // in total
  int64_t peak_bytes = 0;                    // most bytes live at once above the level before the forward
  bool memory_measured = false;              // false on devices other than the CPU
  int repeats = 0;  // forwards timed; the fastest is reported (the least disturbed by other work)
  int64_t batch = 0, positions = 0;

  /// Per block, in order (components outside the blocks excluded).
  std::vector<LayerProfile> layers() const;
  /// The components' times added up (equal to forward_seconds up to rounding).
  double component_seconds() const;
  std::string table() const;
  nlohmann::json to_json() const;
};

struct ProfileOptions {
  int repeats = 5;
  int warmup = 1;
  ForwardOptions forward{};
};

/// Profiles `model(tokens)`. The model's existing hooks stay in place and run (their cost lands in the component
/// they hook); gradients are off.
ModelProfile profile_model(HookedTransformer& model, const torch::Tensor& tokens, const ProfileOptions& options = {});

}  // namespace arrakis
