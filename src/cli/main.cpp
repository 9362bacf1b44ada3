// The `arrakis` command: drives the library from the shell; writes files other languages read (safetensors, JSON).
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "arrakis/error.hpp"
#include "arrakis/runtime.hpp"
#include "cli/commands.hpp"

int main(int argc, char** argv) {
  if (auto warning = arrakis::configure_runtime(); !warning.empty())
    std::cerr << "arrakis: warning: " << warning << "\n";

  CLI::App app{"Arrakis: mechanistic interpretability for transformer language models"};
  app.set_version_flag("--version", arrakis::version());
  app.require_subcommand(1);
  arrakis::cli::register_run(app);
  arrakis::cli::register_generate(app);
  arrakis::cli::register_tokenize(app);
  arrakis::cli::register_bench(app);
  arrakis::cli::register_patch(app);
  arrakis::cli::register_heads(app);
  arrakis::cli::register_lens(app);
  arrakis::cli::register_attribute(app);
  arrakis::cli::register_demo(app);
  arrakis::cli::register_experiments(app);
  arrakis::cli::register_train_demo_model(app);
  arrakis::cli::register_doctor(app);
  arrakis::cli::register_hooks(app);
  arrakis::cli::register_tools(app);
  arrakis::cli::register_plot(app);
  arrakis::cli::register_activations(app);
  arrakis::cli::register_sae(app);
  arrakis::cli::register_prompts(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every bad argument exits 1, as every other error does.
    return app.exit(e) == 0 ? 0 : 1;
  } catch (const arrakis::Error& e) {
    std::cerr << "arrakis: error: " << e.what() << "\n";
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "arrakis: error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "arrakis: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
