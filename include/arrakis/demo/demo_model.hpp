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

/// The demo model's training data: a BOS token (id 0), then a segment of random tokens from 1..d_vocab-1 repeated
/// until the sequence is full, with a different random period in each sequence. Because the period varies, position
/// alone cannot predict the repeats: the model has to find the previous occurrence of the current token and copy
/// what followed it — the induction-head circuit (a previous-token head, then an induction head composing with it).
struct InductionTask {
  int64_t d_vocab = 128;
  int64_t length = 48;                      // tokens per training sequence, BOS included
  int64_t min_period = 4, max_period = 20;  // length of the repeated segment
  torch::Tensor sample(int64_t batch, torch::Generator& generator) const;
};

/// BOS followed by `half` random tokens from 1..d_vocab-1, twice: [batch, 1 + 2 * half].
torch::Tensor repeated_random_tokens(int64_t batch, int64_t half, int64_t d_vocab, torch::Generator& generator);

struct DemoTrainingOptions {
  uint64_t seed = 0;
  int64_t steps = 2000;
  int64_t batch = 64;
  double learning_rate = 3e-3;
  double weight_decay = 0.01;
  InductionTask task;
  std::function<void(int64_t step, double loss)> progress;  // called every 100 steps
};

/// The demo model's architecture (ModelConfig) for a task.
ModelConfig demo_model_config(const InductionTask& task);
/// Trains a fresh demo model from `options.seed` (deterministic for a given seed and thread count).
HookedTransformer train_demo_model(const DemoTrainingOptions& options);
/// The model compiled into this build; arrakis::Error when the build has none.
HookedTransformer load_demo_model();

}  // namespace arrakis
