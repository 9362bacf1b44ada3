// arrakis sae train|eval|features: sparse autoencoders on a hook point's activations, saved and loaded in SAELens'
// layout (docs/representations.md).
#include <fmt/format.h>

#include <iostream>

#include "arrakis/analysis/sparse_autoencoder.hpp"
#include "arrakis/analysis/sparsity.hpp"
#include "arrakis/error.hpp"
#include "arrakis/tools/superposition_tool.hpp"
#include "cli/activation_options.hpp"
#include "cli/command_output.hpp"
#include "cli/commands.hpp"
#include "cli/model_options.hpp"
#include "cli/terminal_text.hpp"

namespace arrakis::cli {

namespace {

// A context on one line of the listing: its line breaks shown as \n.
std::string one_line(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '\n' ? std::string("\\n") : std::string(1, c);
  return out;
}

std::string evaluation_text(const SaeEvaluation& e) {
  std::string out = fmt::format(
      "{} tokens of {}: explained variance {:.4f}, MSE {:.5g}, mean L0 {:.2f}, dead features {}, dense features {}\n",
      e.n_tokens, e.hook, e.explained_variance, e.mse, e.mean_l0, e.dead_features, e.dense_features);
  if (e.has_language_model_loss)
    out += fmt::format(
        "language-model loss: clean {:.4f}, with the SAE {:.4f}, zero-ablated {:.4f}: loss recovered {:.4f}\n",
        e.loss_clean, e.loss_spliced, e.loss_zero_ablation, e.loss_recovered);
  return out;
}

struct TrainArgs {
  ModelOptions model;
  ActivationSourceOptions source;
  SaeTrainingOptions training;
  std::string architecture = "topk";
  std::string out;
  OutputOptions output;
};

CommandReport train(TrainArgs& args) {
  auto model = load_model(args.model);
  const auto data = activations_from(model, args.source);
  args.training.architecture = parse_sae_architecture(args.architecture);
  args.training.model_name = model.config().model_name;
  if (args.training.checkpoint_every > 0)
    args.training.checkpoint_dir = std::filesystem::path(args.out) / "checkpoints";
  args.training.progress = [steps = args.training.steps](int64_t step, double mse, double l0) {
    std::cerr << fmt::format("sae train: step {} of {}  mse {:.5g}  L0 {:.2f}", step, steps, mse, l0) << std::endl;
  };
  auto result = train_sparse_autoencoder(data, args.training);
  result.sae.save(args.out);
  const auto evaluation = evaluate_sparse_autoencoder(result.sae, data, &model);
  CommandReport report;
  report.json = {{"training", result.to_json()}, {"evaluation", evaluation.to_json()}, {"saved_to", args.out}};
  report.print_text = [text = evaluation_text(evaluation), result = result.to_json(), out = args.out] {
    fmt::print("trained a {} SAE ({} features) in {:.1f} s ({:.0f} tokens/s); on the training tokens:\n{}saved to {}\n",
               result["config"]["architecture"].get<std::string>(), result["config"]["d_sae"].get<int64_t>(),
               result["seconds"].get<double>(), result["tokens_per_second"].get<double>(), text, out);
  };
  return report;
}

struct EvalArgs {
  ModelOptions model;
  ActivationSourceOptions source;
  std::string sae;
  OutputOptions output;
};

CommandReport evaluate(const EvalArgs& args) {
  auto model = load_model(args.model);
  const auto sae = SparseAutoencoder::load(args.sae);
  const auto data = activations_from(model, args.source, sae.config().hook_name);
  const auto e = evaluate_sparse_autoencoder(sae, data, &model);
  CommandReport report;
  report.json = e.to_json();
  report.tensors = e.tensors();
  report.print_text = [text = evaluation_text(e)] { fmt::print("{}", text); };
  return report;
}

struct FeaturesArgs {
  ModelOptions model;
  ActivationSourceOptions source;
  std::string sae;
  PolysemanticityOptions options;
  OutputOptions output;
};

CommandReport features(const FeaturesArgs& args) {
  auto model = load_model(args.model);
  const auto sae = SparseAutoencoder::load(args.sae);
  const auto data = activations_from(model, args.source, sae.config().hook_name);
  const auto features = sae_feature_dataset(sae, data);
  const auto stats = activation_sparsity(features);
  const auto units = polysemantic_units(features, &model, args.options);
  CommandReport report;
  report.json = {{"sparsity", stats.to_json()}, {"features", units.to_json()}};
  report.tensors = units.tensors();
  for (const auto& [name, t] : stats.tensors()) report.tensors.emplace_back("sparsity." + name, t);
  report.print_text = [units = units.most_polysemantic, n = stats.n_units, l0 = stats.mean_l0,
                       dead = stats.dead_units.size()] {
    fmt::print("{} features, mean L0 {:.2f}, {} dead; the most polysemantic (entropy of their top tokens):\n", n, l0,
               dead);
    for (const auto& u : units) {
      fmt::print("feature {} (entropy {:.3f}):\n", u.unit, u.entropy);
      for (std::size_t i = 0; i < std::min<std::size_t>(u.top.size(), 5); ++i)
        fmt::print("  {:9.4f}  {}\n", u.top[i].activation, terminal_safe(one_line(u.top[i].context)));
    }
  };
  return report;
}

}  // namespace

void register_sae(CLI::App& app) {
  auto* group = app.add_subcommand("sae", "Sparse autoencoders: train, evaluate, list features (SAELens layout)");
  group->require_subcommand(1);

  auto t = std::make_shared<TrainArgs>();
  auto* train_cmd = group->add_subcommand("train", "Train an SAE on a hook point's activations and save it");
  add_model_options(train_cmd, t->model);
  add_activation_source_options(train_cmd, t->source);
  train_cmd->add_option("--out", t->out, "Folder for cfg.json and sae_weights.safetensors")->required();
  train_cmd->add_option("--architecture", t->architecture, "relu (L1), topk or jumprelu (L0)")->capture_default_str();
  train_cmd->add_option("--d-sae", t->training.d_sae, "Features (default: --expansion-factor x the width)");
  train_cmd->add_option("--expansion-factor", t->training.expansion_factor, "d_sae / d_in")->capture_default_str();
  train_cmd->add_option("--k", t->training.k, "TopK: features per token")->capture_default_str();
  train_cmd->add_option("--l1-coefficient", t->training.l1_coefficient, "ReLU: L1 weight")->capture_default_str();
  train_cmd->add_option("--l0-coefficient", t->training.l0_coefficient, "JumpReLU: L0 weight")->capture_default_str();
  train_cmd
      ->add_option("--jumprelu-threshold", t->training.jumprelu_initial_threshold,
                   "JumpReLU: the thresholds' initial value (normalised units)")
      ->capture_default_str();
  train_cmd
      ->add_option("--jumprelu-bandwidth", t->training.jumprelu_bandwidth,
                   "JumpReLU: the straight-through estimators' kernel width")
      ->capture_default_str();
  train_cmd->add_option("--steps", t->training.steps, "Adam steps")->capture_default_str();
  train_cmd->add_option("--batch-size", t->training.batch_size, "Rows per step")->capture_default_str();
  train_cmd->add_option("--learning-rate", t->training.learning_rate, "Adam's learning rate")->capture_default_str();
  train_cmd->add_option("--seed", t->training.seed, "Initialisation and batches")->capture_default_str();
  train_cmd->add_option("--checkpoint-every", t->training.checkpoint_every,
                        "Save the SAE to OUT/checkpoints/step_N every N steps");
  add_output_options(train_cmd, t->output, {});
  train_cmd->callback([t] { emit(train(*t), t->output); });

  auto e = std::make_shared<EvalArgs>();
  auto* eval_cmd = group->add_subcommand(
      "eval", "An SAE's reconstruction, sparsity and the language-model loss recovered with it spliced in");
  add_model_options(eval_cmd, e->model);
  add_activation_source_options(eval_cmd, e->source);
  eval_cmd->add_option("--sae", e->sae, "The SAE's folder (SAELens layout)")->required();
  add_output_options(eval_cmd, e->output, {.out = "Write each feature's firing frequency to this .safetensors file"});
  eval_cmd->callback([e] { emit(evaluate(*e), e->output); });

  auto f = std::make_shared<FeaturesArgs>();
  auto* features_cmd =
      group->add_subcommand("features", "Each SAE feature's firing statistics and top activating contexts");
  add_model_options(features_cmd, f->model);
  add_activation_source_options(features_cmd, f->source);
  features_cmd->add_option("--sae", f->sae, "The SAE's folder (SAELens layout)")->required();
  features_cmd->add_option("--top-k", f->options.top_k, "Top activations per feature")->capture_default_str();
  features_cmd->add_option("--window", f->options.window, "Tokens of context each side")->capture_default_str();
  features_cmd->add_option("--n-listed", f->options.n_listed, "Features listed with their contexts")
      ->capture_default_str();
  add_output_options(features_cmd, f->output, {.out = "Write the top values, rows and tokens to this file"});
  features_cmd->callback([f] { emit(features(*f), f->output); });
}

}  // namespace arrakis::cli
