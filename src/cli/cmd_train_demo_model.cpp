// arrakis train-demo-model: reproduces the embedded demo model (assets/demo-model) from its seed.
#include <fmt/format.h>

#include <iostream>

#include "arrakis/demo/demo_model.hpp"
#include "arrakis/model/transformer_lens_format.hpp"
#include "cli/commands.hpp"

namespace arrakis::cli {

void register_train_demo_model(CLI::App& app) {
  auto options = std::make_shared<DemoTrainingOptions>();
  auto out = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("train-demo-model",
                                 "Train the default demo model (2-layer attention-only, induction heads) from scratch");
  cmd->add_option("--out", *out, "Folder to write config.json and model.safetensors (TransformerLens format)")
      ->required();
  cmd->add_option("--seed", options->seed, "Seed of the initial weights and the data");
  cmd->add_option("--steps", options->steps, "Optimizer steps");
  cmd->callback([options, out] {
    options->progress = [](int64_t step, double loss) {
      std::cerr << fmt::format("train-demo-model: step {:5d}  loss {:.4f}", step, loss) << std::endl;
    };
    auto model = train_demo_model(*options);
    save_transformer_lens(model, *out);
    fmt::print("wrote {}/config.json and {}/model.safetensors\n", *out, *out);
  });
}

}  // namespace arrakis::cli
