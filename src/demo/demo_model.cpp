#include "arrakis/demo/demo_model.hpp"

#include <fmt/format.h>
#include <torch/optim/adamw.h>

#include "arrakis/error.hpp"
#include "arrakis/io/checkpoint.hpp"
#include "arrakis/io/config_json.hpp"
#include "arrakis/model/transformer_lens_format.hpp"
#include "arrakis/util/seeded_generator.hpp"
#include "demo/embedded_files.hpp"

namespace arrakis {

torch::Tensor repeated_random_tokens(int64_t batch, int64_t half, int64_t d_vocab, torch::Generator& generator) {
  auto half_tokens = torch::randint(1, d_vocab, {batch, half}, generator, torch::TensorOptions().dtype(torch::kInt64));
  return torch::cat({torch::zeros({batch, 1}, torch::kInt64), half_tokens, half_tokens}, 1);
}

torch::Tensor InductionTask::sample(int64_t batch, torch::Generator& generator) const {
  auto options = torch::TensorOptions().dtype(torch::kInt64);
  auto tokens = torch::zeros({batch, length}, options);
  auto periods = torch::randint(min_period, max_period + 1, {batch}, generator, options);
  auto segments = torch::randint(1, d_vocab, {batch, max_period}, generator, options);
  auto positions = torch::arange(length - 1, options);  // position i of the body repeats segment[i % period]
  auto index = positions.unsqueeze(0).remainder(periods.unsqueeze(1));
  tokens.narrow(1, 1, length - 1).copy_(segments.gather(1, index));
  return tokens;
}

ModelConfig demo_model_config(const InductionTask& task) {
  ModelConfig c;
  c.family = "transformer_lens";
  c.model_name = "arrakis-induction-2l";
  c.n_layers = 2;
  c.d_model = 64;
  c.n_heads = 4;
  c.d_head = 16;
  c.attn_only = true;
  c.d_vocab = task.d_vocab;
  c.n_ctx = task.length;
  c.normalization = NormType::LayerNorm;
  c.positional_embedding = PositionalEmbedding::Learned;
  return c;
}

HookedTransformer train_demo_model(const DemoTrainingOptions& options) {
  // One intra-op thread: for a model this small that is faster than two, and the result does not depend on the
  // machine's core count.
  const int threads = torch::get_num_threads();
  torch::set_num_threads(1);
  const auto config = demo_model_config(options.task);
  // Larger than GPT-2's 0.02 so a model this small starts learning at once.
  auto weights = ModelWeights::random(config, options.seed, 0.1);
  HookedTransformer model(config, std::move(weights));
  model.weights().requires_grad(true);
  std::vector<torch::Tensor> parameters;
  for (auto& [name, t] : model.weights().named_parameters(config)) parameters.push_back(t);
  torch::optim::AdamW optimizer(parameters,
                                torch::optim::AdamWOptions(options.learning_rate).weight_decay(options.weight_decay));
  auto generator = seeded_generator(options.seed + 1);
  for (int64_t step = 1; step <= options.steps; ++step) {
    auto tokens = options.task.sample(options.batch, generator);
    auto loss = lm_loss(model(tokens), tokens);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    if (options.progress && (step % 100 == 0 || step == options.steps)) options.progress(step, loss.item<double>());
  }
  model.weights().requires_grad(false);
  torch::set_num_threads(threads);
  return model;
}

HookedTransformer load_demo_model() {
  auto config_bytes = embedded::demo_model_config();
  auto weight_bytes = embedded::demo_model_weights();
  if (config_bytes.empty() || weight_bytes.empty())
    throw Error(
        "this build has no embedded demo model: run `arrakis train-demo-model --out assets/demo-model` and "
        "rebuild");
  const std::string text(reinterpret_cast<const char*>(config_bytes.data()), config_bytes.size());
  ConfigJson json(nlohmann::json::parse(text), "embedded demo model config.json");
  auto config = config_from_transformer_lens(json);
  auto checkpoint =
      Checkpoint::from_safetensors(SafetensorsFile::from_bytes(weight_bytes, "embedded demo model.safetensors"));
  auto weights = weights_from_transformer_lens(*checkpoint, config, torch::kFloat32, torch::kCPU);
  return HookedTransformer(std::move(config), std::move(weights));
}

}  // namespace arrakis
