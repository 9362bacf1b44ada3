#pragma once
// Plot backends draw figures (figure.hpp) into files. Built in (docs/plots.md):
//   html  interactive: Plotly.js inlined, so the page opens offline; hover shows exact values and token strings,
//         drag zooms, double-click resets; one page holds every figure
//   svg   static, for papers: Plotly's own image export run in headless Chromium; one file per figure
//   png   the same, as a bitmap of exactly width x height pixels
//   json  the figure specs alone ({"title", "figures": [...]}), for other tools
// A user's backend (say, one writing Vega-Lite or matplotlib scripts) is registered with register_plot_backend and
// chosen by name like the built-in ones.
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "arrakis/plots/figure.hpp"

namespace arrakis {

struct PlotOptions {
  std::string page_title;  // the HTML page's heading; the JSON's "title"
  int width = 900;         // static images: pixels (the HTML page is responsive)
  int height = 520;
};

class PlotBackend {
 public:
  virtual ~PlotBackend() = default;
  virtual std::string name() const = 0;       // "html"
  virtual std::string extension() const = 0;  // ".html": the files it writes (and how a file name chooses it)
  virtual std::string description() const = 0;
  /// Draws `figures` into `file` (or, for one-figure-per-file formats with several figures, FILE-1.EXT, FILE-2.EXT,
  /// ...); returns the files written. arrakis::Error naming the file or figure at fault.
  virtual std::vector<std::filesystem::path> write(const std::filesystem::path& file,
                                                   const std::vector<Figure>& figures,
                                                   const PlotOptions& options) const = 0;
};

/// Adds a backend, or replaces the one of the same name.
void register_plot_backend(std::shared_ptr<const PlotBackend> backend);
/// arrakis::Error listing the registered backends when there is none of that name.
const PlotBackend& plot_backend(std::string_view name);
std::vector<std::string> plot_backend_names();

/// Writes `figures` with the backend named `backend`, or, when it is empty, the one whose extension `file` has
/// (arrakis::Error listing the extensions when none has). Returns the files written.
std::vector<std::filesystem::path> write_figures(const std::filesystem::path& file, const std::vector<Figure>& figures,
                                                 const PlotOptions& options, std::string_view backend = {});

/// The HTML page of the html backend, as text (deterministic: the same figures give the same bytes).
std::string figures_html(const std::vector<Figure>& figures, const PlotOptions& options);

}  // namespace arrakis
