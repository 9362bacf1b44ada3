// arrakis activations collect --model DIR --hook NAME --tokens SOURCE --n-tokens N --out DIR: a hook point's
// activations over many tokens, stored as safetensors shards (docs/representations.md).
#include <fmt/format.h>

#include "arrakis/error.hpp"
#include "cli/activation_options.hpp"
#include "cli/command_output.hpp"
#include "cli/commands.hpp"
#include "cli/model_options.hpp"

namespace arrakis::cli {

namespace {

struct CollectArgs {
  ModelOptions model;
  ActivationSourceOptions source;
  std::string out;
  std::string store_dtype = "float32";
  OutputOptions output;
};

CommandReport collect(const CollectArgs& args) {
  if (args.store_dtype != "float32" && args.store_dtype != "bfloat16")
    throw Error(fmt::format("--store-dtype '{}' is not float32 or bfloat16", args.store_dtype));
  if (args.source.hook.empty()) throw Error("--hook is required: the hook point whose activations are collected");
  auto model = load_model(args.model);
  const auto data = activations_from(model, args.source, {}, args.out,
                                     args.store_dtype == "float32" ? torch::kFloat32 : torch::kBFloat16);
  CommandReport report;
  report.json = data.describe();
  report.print_text = [json = report.json] {
    fmt::print("wrote {} rows of {} ({} values each, {}) in {} shards to {}\n", json["rows"].get<int64_t>(),
               json["hook"].get<std::string>(), json["d"].get<int64_t>(), json["dtype"].get<std::string>(),
               json["shards"].get<int64_t>(), json["directory"].get<std::string>());
  };
  return report;
}

}  // namespace

void register_activations(CLI::App& app) {
  auto* group = app.add_subcommand("activations", "Activation datasets: a hook point's activations over many tokens");
  group->require_subcommand(1);
  auto args = std::make_shared<CollectArgs>();
  auto* cmd = group->add_subcommand("collect", "Collect a hook point's activations and store them as shards");
  add_model_options(cmd, args->model);
  add_activation_source_options(cmd, args->source, /*with_dataset=*/false);
  cmd->add_option("--out", args->out, "A new or empty folder for dataset.json, tokens and shards")->required();
  cmd->add_option("--store-dtype", args->store_dtype, "float32 or bfloat16")->capture_default_str();
  add_output_options(cmd, args->output, {});
  cmd->callback([args] { emit(collect(*args), args->output); });
}

}  // namespace arrakis::cli
