#pragma once
// The self-contained HTML page of a list of figures: Plotly.js inlined, the figures' Plotly JSON, a script that
// draws them and reports what it drew (#arrakis-render-report), and, for static export, Plotly's image of the first
// figure (#arrakis-export).
#include <string>
#include <vector>

#include "arrakis/plots/figure.hpp"

namespace arrakis {

/// Asks the page for Plotly's own image of its first figure, drawn at exactly width x height.
struct ExportRequest {
  std::string format;  // "svg" or "png"
  int width = 900;
  int height = 520;
};

std::string html_page(const std::vector<Figure>& figures, const std::string& page_title,
                      const ExportRequest* request = nullptr);

}  // namespace arrakis
