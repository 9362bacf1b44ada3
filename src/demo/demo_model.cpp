#include "arrakis/demo/demo_model.hpp"

#include <fmt/format.h>

#include "arrakis/error.hpp"
#include "arrakis/io/checkpoint.hpp"
#include "arrakis/io/config_json.hpp"
#include "arrakis/model/transformer_lens_format.hpp"
#include "demo/embedded_files.hpp"

namespace arrakis {

torch::Tensor RepeatedSequenceTask::sample(int64_t batch, torch::Generator& generator) const {
  auto half_tokens = torch::randint(1, d_vocab, {batch, half}, generator, torch::TensorOptions().dtype(torch::kInt64));
  auto bos = torch::zeros({batch, 1}, torch::kInt64);
  return torch::cat({bos, half_tokens, half_tokens}, 1);
}

ModelConfig demo_model_config(const RepeatedSequenceTask& task) {
  ModelConfig c;
  c.family = "transformer_lens";
  c.model_name = "arrakis-induction-2l";
  c.n_layers = 2;
  c.d_model = 64;
  c.n_heads = 4;
  c.d_head = 16;
  c.attn_only = true;
  c.d_vocab = task.d_vocab;
  c.n_ctx = 2 * task.length();  // room for longer prompts than the training sequences
  c.normalization = NormType::LayerNorm;
  c.positional_embedding = PositionalEmbedding::Learned;
  return c;
}

HookedTransformer train_demo_model(const DemoTrainingOptions& options) {
  const auto config = demo_model_config(options.task);
  // Larger than GPT-2's 0.02 so a model this small starts learning at once.
  auto weights = ModelWeights::random(config, options.seed, 0.1);
  HookedTransformer model(config, std::move(weights));
  model.weights().requires_grad(true);
  std::vector<torch::Tensor> parameters;
  for (auto& [name, t] : model.weights().named_parameters(config)) parameters.push_back(t);
  torch::optim::AdamW optimizer(parameters,
                                torch::optim::AdamWOptions(options.learning_rate).weight_decay(options.weight_decay));
  auto generator = at::detail::createCPUGenerator(options.seed + 1);
  for (int64_t step = 1; step <= options.steps; ++step) {
    auto tokens = options.task.sample(options.batch, generator);
    auto loss = lm_loss(model(tokens), tokens);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    if (options.progress && (step % 100 == 0 || step == options.steps)) options.progress(step, loss.item<double>());
  }
  model.weights().requires_grad(false);
  return model;
}

HookedTransformer load_demo_model() {
  auto config_bytes = embedded::demo_model_config();
  auto weight_bytes = embedded::demo_model_weights();
  if (config_bytes.empty() || weight_bytes.empty())
    throw Error("this build has no embedded demo model: run `arrakis train-demo-model --out assets/demo-model` and "
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
