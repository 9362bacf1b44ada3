// arrakis demo: the main job — runs the embedded default model and reports what it predicts and caches.
#include <iostream>

#include "arrakis/demo/demo_report.hpp"
#include "cli/commands.hpp"
#include "cli/model_options.hpp"

namespace arrakis::cli {

void register_demo(CLI::App& app) {
  auto options = std::make_shared<DemoOptions>();
  auto* cmd = app.add_subcommand("demo", "Explore the embedded default model (no download, no arguments needed)");
  cmd->add_option("--seed", options->seed, "Seed of the random sequences shown");
  cmd->add_option("--save-dir", options->save_dir,
                  "Folder where each analysis is logged as an experiment (default ./experiments)");
  auto model = std::make_shared<ModelOptions>();
  add_dtype_device_options(cmd, *model);
  cmd->callback([options, model] {
    options->dtype = parse_dtype(model->dtype);
    options->device = parse_device(model->device);
    run_demo(std::cout, *options);
  });
}

}  // namespace arrakis::cli
