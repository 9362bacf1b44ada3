// The `arrakis` command: drives the library from the shell; writes files other languages read (safetensors, JSON).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "arrakis/error.hpp"
#include "arrakis/runtime.hpp"
#include "cli/commands.hpp"

namespace {

// OpenBLAS reads OPENBLAS_CORETYPE while loading, before main(); forcing a core type it would not pick itself halves
// matmul speed on this machine kind. Start again without it (once; ARRAKIS_KEEP_CORETYPE=1 keeps it).
void reexec_without_forced_coretype(char** argv) {
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  const char* keep = std::getenv("ARRAKIS_KEEP_CORETYPE");
  if (!coretype || !*coretype || (keep && *keep)) return;
  ::unsetenv("OPENBLAS_CORETYPE");
  ::setenv("ARRAKIS_KEEP_CORETYPE", "1", 1);  // never loop
  ::execv("/proc/self/exe", argv);           // returns only on failure: then carry on with the slower kernels
}

}  // namespace

int main(int argc, char** argv) {
  reexec_without_forced_coretype(argv);
  if (auto warning = arrakis::configure_runtime(); !warning.empty()) std::cerr << "arrakis: warning: " << warning << "\n";

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

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
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
