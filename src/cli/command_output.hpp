#pragma once
// The one shape of an analysis command: compute with the library, fill a CommandReport, emit() it. emit() is the one
// printer: --out writes the report's tensors, --plot its figures, then --json prints its JSON object or, without
// it, its text followed by what was written. A command never prints, saves or plots by itself.
#include <CLI/CLI.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "arrakis/io/safetensors.hpp"
#include "arrakis/plots/figure.hpp"

namespace arrakis::cli {

struct OutputOptions {
  bool json = false;
  std::optional<std::string> out;   // .safetensors
  std::optional<std::string> plot;  // .html (interactive), .svg, .png (static), .json (the specs)
};

/// What --out and --plot write, for their help texts; an empty text leaves the option out. --plot's help gains the
/// formats it can write.
struct OutputHelp {
  std::string out;
  std::string plot;
};

/// --json, and --out / --plot where the command has them.
void add_output_options(CLI::App* cmd, OutputOptions& options, const OutputHelp& help);

struct CommandReport {
  nlohmann::json json;                          // --json: one object on stdout
  std::function<void()> print_text;             // otherwise: the human-readable report
  NamedTensors tensors;                         // --out
  std::map<std::string, std::string> metadata;  // --out's safetensors metadata
  std::string figure_title;                     // --plot: the page title
  std::vector<Figure> figures;                  // --plot: its figures, in order
};

void emit(const CommandReport& report, const OutputOptions& options);

/// The report of a library result that already has both forms: its JSON and its text (to_table(), to_text()).
CommandReport report_of(nlohmann::json json, std::string text);

}  // namespace arrakis::cli
