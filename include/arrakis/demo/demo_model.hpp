#pragma once
// The default model `arrakis demo` runs on: a two-layer attention-only transformer that Arrakis trains itself on
// repeated random sequences until it forms induction heads (see docs/demo-model.md). It is compiled into the
// library, so the demo needs no file and no download.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "arrakis/model/hooked_transformer.hpp"

namespace arrakis {

/// The shape of the demo task: a BOS token (id 0), then `half` random tokens from 1..d_vocab-1, then the same
/// tokens again.
struct RepeatedSequenceTask {
  int64_t d_vocab = 64;
  int64_t half = 16;
  int64_t length() const { return 1 + 2 * half; }
  /// A batch of such sequences [batch, length] drawn from `generator`.
  torch::Tensor sample(int64_t batch, torch::Generator& generator) const;
};

struct DemoTrainingOptions {
  uint64_t seed = 0;
  int64_t steps = 1500;
  int64_t batch = 64;
  double learning_rate = 3e-3;
  double weight_decay = 0.01;
  RepeatedSequenceTask task;
  std::function<void(int64_t step, double loss)> progress;  // called every 100 steps
};

/// The demo model's architecture (ModelConfig) for a task.
ModelConfig demo_model_config(const RepeatedSequenceTask& task);
/// Trains a fresh demo model from `options.seed` (deterministic for a given seed and thread count).
HookedTransformer train_demo_model(const DemoTrainingOptions& options);
/// The model compiled into this build; arrakis::Error when the build has none.
HookedTransformer load_demo_model();

}  // namespace arrakis
