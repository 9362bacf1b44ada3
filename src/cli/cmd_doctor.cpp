// arrakis doctor: what decides how fast Arrakis runs on this machine, and what to fix.
#include <iostream>

#include "arrakis/runtime/doctor.hpp"
#include "cli/command_output.hpp"
#include "cli/commands.hpp"

namespace arrakis::cli {

void register_doctor(CLI::App& app) {
  auto options = std::make_shared<DoctorOptions>();
  auto json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("doctor",
                                 "Report LibTorch, the BLAS and its kernels, the CPU, threads and a "
                                 "measured sgemm; list problems with their fixes");
  cmd->add_flag("--json", *json, "Print one JSON object");
  cmd->add_flag("--remeasure", options->remeasure, "Measure the BLAS kernels again (replacing the cached choice)");
  cmd->callback([options, json] {
    auto report = run_doctor(*options);
    emit(report_of(report.to_json(), report.to_text()), {.json = *json});
  });
}

}  // namespace arrakis::cli
