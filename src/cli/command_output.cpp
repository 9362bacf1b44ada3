#include "cli/command_output.hpp"

#include <fmt/format.h>

#include "arrakis/error.hpp"

namespace arrakis::cli {

void add_output_options(CLI::App* cmd, OutputOptions& options, const OutputHelp& help) {
  cmd->add_flag("--json", options.json, "Print one JSON object");
  if (!help.out.empty()) cmd->add_option("--out", options.out, help.out);
  if (!help.plot.empty()) cmd->add_option("--plot", options.plot, help.plot);
}

void emit(const CommandReport& report, const OutputOptions& options) {
  if (options.out) save_safetensors(*options.out, report.tensors, report.metadata);
  if (options.plot) {
    if (report.figures.empty()) throw Error("--plot: this command has no figure to draw");
    write_heatmaps_html(*options.plot, report.figure_title, report.figures);
  }
  if (options.json) {
    fmt::print("{}\n", report.json.dump());
    return;
  }
  if (report.print_text) report.print_text();
  if (options.out) fmt::print("wrote {}\n", *options.out);
  if (options.plot) fmt::print("wrote {}\n", *options.plot);
}

CommandReport report_of(nlohmann::json json, std::string text) {
  CommandReport report;
  report.json = std::move(json);
  report.print_text = [text = std::move(text)] { fmt::print("{}", text); };
  return report;
}

}  // namespace arrakis::cli
