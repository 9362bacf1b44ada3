#include "cli/command_output.hpp"

#include <fmt/format.h>

#include "arrakis/error.hpp"
#include "arrakis/plots/plot_backend.hpp"

namespace arrakis::cli {

void add_output_options(CLI::App* cmd, OutputOptions& options, const OutputHelp& help) {
  cmd->add_flag("--json", options.json, "Print one JSON object");
  if (!help.out.empty()) cmd->add_option("--out", options.out, help.out);
  if (!help.plot.empty())
    cmd->add_option("--plot", options.plot,
                    help.plot +
                        ": .html (interactive, opens offline), .svg or .png (static, one file per figure; "
                        "needs Chromium) or .json (the figure specs)");
}

void emit(const CommandReport& report, const OutputOptions& options) {
  if (options.out) save_safetensors(*options.out, report.tensors, report.metadata);
  std::vector<std::filesystem::path> plotted;
  if (options.plot) {
    if (report.figures.empty()) throw Error("--plot: this command has no figure to draw");
    plotted = write_figures(*options.plot, report.figures, {.page_title = report.figure_title});
  }
  if (options.json) {
    fmt::print("{}\n", report.json.dump());
    return;
  }
  if (report.print_text) report.print_text();
  if (options.out) fmt::print("wrote {}\n", *options.out);
  for (const auto& file : plotted) fmt::print("wrote {}\n", file.string());
}

CommandReport report_of(nlohmann::json json, std::string text) {
  CommandReport report;
  report.json = std::move(json);
  report.print_text = [text = std::move(text)] { fmt::print("{}", text); };
  return report;
}

}  // namespace arrakis::cli
