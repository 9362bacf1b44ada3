#include "arrakis/plots/heatmap.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "arrakis/error.hpp"

namespace arrakis {
namespace {

struct Rgb {
  double r, g, b;
};

Rgb mix(Rgb a, Rgb b, double t) { return {a.r + (b.r - a.r) * t, a.g + (b.g - a.g) * t, a.b + (b.b - a.b) * t}; }

std::string hex(Rgb c) {
  auto byte = [](double v) { return static_cast<int>(std::lround(std::clamp(v, 0.0, 1.0) * 255)); };
  return fmt::format("#{:02x}{:02x}{:02x}", byte(c.r), byte(c.g), byte(c.b));
}

constexpr Rgb kBlue{0.13, 0.40, 0.67}, kWhite{1, 1, 1}, kRed{0.70, 0.09, 0.17};

// t in [0, 1] along the colour scale.
std::string colour(double t, bool diverging) {
  t = std::clamp(t, 0.0, 1.0);
  if (!diverging) return hex(mix(kWhite, kBlue, t));
  return t < 0.5 ? hex(mix(kBlue, kWhite, t * 2)) : hex(mix(kWhite, kRed, (t - 0.5) * 2));
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  return fmt::format("{:.4g}", v);
}

std::string label(const std::vector<std::string>& labels, int64_t i) {
  return labels.empty() ? std::to_string(i) : labels[static_cast<std::size_t>(i)];
}

}  // namespace

std::string escape_xml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        // Control characters are not allowed in XML 1.0: show them as a visible escape.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t')
          out += fmt::format("\\x{:02x}", static_cast<int>(c));
        else
          out += c;
    }
  }
  return out;
}

std::string heatmap_svg(const Heatmap& heatmap) {
  if (!heatmap.values.defined() || heatmap.values.dim() != 2)
    throw Error(fmt::format("heatmap '{}': values must be a [rows, cols] tensor", heatmap.title));
  auto values = heatmap.values.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  const int64_t rows = values.size(0), cols = values.size(1);
  if (!heatmap.row_labels.empty() && static_cast<int64_t>(heatmap.row_labels.size()) != rows)
    throw Error(fmt::format("heatmap '{}': {} row labels for {} rows", heatmap.title, heatmap.row_labels.size(), rows));
  if (!heatmap.col_labels.empty() && static_cast<int64_t>(heatmap.col_labels.size()) != cols)
    throw Error(
        fmt::format("heatmap '{}': {} column labels for {} columns", heatmap.title, heatmap.col_labels.size(), cols));
  const double* v = values.data_ptr<double>();
  double lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < rows * cols; ++i)
    if (!std::isnan(v[i])) lo = std::min(lo, v[i]), hi = std::max(hi, v[i]);
  if (lo > hi) lo = hi = 0;  // all NaN (or empty)
  const bool diverging = heatmap.diverging.value_or(lo < 0 && hi > 0);
  double scale_lo = lo, scale_hi = hi;
  if (diverging) scale_hi = std::max(std::abs(lo), std::abs(hi)), scale_lo = -scale_hi;
  if (scale_hi == scale_lo) scale_hi = scale_lo + 1;  // a constant map: any colour works, avoid 0/0
  auto position = [&](double x) { return (x - scale_lo) / (scale_hi - scale_lo); };

  // Geometry: cells shrink for large grids; labels need room on the left and at the bottom.
  const double cell = std::clamp(640.0 / static_cast<double>(std::max<int64_t>(cols, 1)), 6.0, 36.0);
  const double cell_h = std::clamp(480.0 / static_cast<double>(std::max<int64_t>(rows, 1)), 6.0, 36.0);
  std::size_t longest_row = 1, longest_col = 1;
  for (int64_t r = 0; r < rows; ++r) longest_row = std::max(longest_row, label(heatmap.row_labels, r).size());
  for (int64_t c = 0; c < cols; ++c) longest_col = std::max(longest_col, label(heatmap.col_labels, c).size());
  const bool show_cols = cell >= 10, show_rows = cell_h >= 10;
  const double left = 40 + (show_rows ? 7.0 * static_cast<double>(std::min<std::size_t>(longest_row, 24)) : 0);
  const double top = 36;
  const double bottom = 40 + (show_cols ? 6.5 * static_cast<double>(std::min<std::size_t>(longest_col, 24)) : 0);
  const double grid_w = cell * static_cast<double>(cols), grid_h = cell_h * static_cast<double>(rows);
  const double bar_x = left + grid_w + 24, bar_w = 14, bar_h = std::max(grid_h, 120.0);
  // Wide enough for the title (about 8 px per character at 14 px bold).
  const double width = std::max(bar_x + bar_w + 70, left + 8.0 * static_cast<double>(heatmap.title.size()) + 16);
  const double height = top + std::max(grid_h, bar_h) + bottom;

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0f}\" height=\"{:.0f}\" viewBox=\"0 0 {:.0f} {:.0f}\" "
      "font-family=\"sans-serif\" font-size=\"11\">\n",
      width, height, width, height);
  svg += fmt::format("<text x=\"{:.1f}\" y=\"20\" font-size=\"14\" font-weight=\"bold\">{}</text>\n", left,
                     escape_xml(heatmap.title));
  svg += "<g class=\"cells\">\n";
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      double x = v[r * cols + c];
      svg += fmt::format(
          "<rect class=\"cell\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\">"
          "<title>{} {}, {} {}: {}</title></rect>\n",
          left + cell * static_cast<double>(c), top + cell_h * static_cast<double>(r), cell, cell_h,
          std::isnan(x) ? std::string("#bbbbbb") : colour(position(x), diverging), escape_xml(heatmap.row_axis),
          escape_xml(label(heatmap.row_labels, r)), escape_xml(heatmap.col_axis),
          escape_xml(label(heatmap.col_labels, c)), format_value(x));
    }
  }
  svg += "</g>\n";
  if (show_rows)
    for (int64_t r = 0; r < rows; ++r)
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\" dominant-baseline=\"middle\">{}</text>\n",
                         left - 4, top + cell_h * (static_cast<double>(r) + 0.5),
                         escape_xml(label(heatmap.row_labels, r).substr(0, 24)));
  if (show_cols)
    for (int64_t c = 0; c < cols; ++c) {
      double x = left + cell * (static_cast<double>(c) + 0.5), y = top + grid_h + 6;
      svg += fmt::format(
          "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\" dominant-baseline=\"middle\" "
          "transform=\"rotate(-60 {:.1f} {:.1f})\">{}</text>\n",
          x, y, x, y, escape_xml(label(heatmap.col_labels, c).substr(0, 24)));
    }
  // Axis titles.
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"12\">{}</text>\n",
                     left + grid_w / 2, height - 8, escape_xml(heatmap.col_axis));
  svg += fmt::format(
      "<text x=\"14\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"12\" "
      "transform=\"rotate(-90 14 {:.1f})\">{}</text>\n",
      top + grid_h / 2, top + grid_h / 2, escape_xml(heatmap.row_axis));
  // Colour bar: 32 steps from the top (high) to the bottom (low), with its end values and the middle.
  svg += "<g class=\"colour-bar\">\n";
  constexpr int kSteps = 32;
  for (int i = 0; i < kSteps; ++i) {
    double t = 1.0 - (static_cast<double>(i) + 0.5) / kSteps;
    svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.2f}\" width=\"{:.1f}\" height=\"{:.2f}\" fill=\"{}\"/>\n", bar_x,
                       top + bar_h * i / kSteps, bar_w, bar_h / kSteps + 0.3, colour(t, diverging));
  }
  for (double t : {1.0, 0.5, 0.0})
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" dominant-baseline=\"middle\">{}</text>\n", bar_x + bar_w + 4,
                       top + bar_h * (1.0 - t), format_value(scale_lo + t * (scale_hi - scale_lo)));
  svg += "</g>\n</svg>\n";
  return svg;
}

void write_heatmaps_html(const std::filesystem::path& path, const std::string& page_title,
                         const std::vector<Heatmap>& heatmaps) {
  std::string html = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>{}</title>\n"
      "<style>body {{ font-family: sans-serif; margin: 24px; }} svg {{ display: block; margin: 16px 0 32px; }} "
      ".cell:hover {{ stroke: #000; stroke-width: 1.5; }}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
      escape_xml(page_title), escape_xml(page_title));
  for (const auto& heatmap : heatmaps) html += heatmap_svg(heatmap);
  html += "</body>\n</html>\n";
  auto temporary = path;
  temporary += ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(fmt::format("cannot write the plot {}", path.string()));
    out << html;
    if (!out.flush()) throw Error(fmt::format("cannot write the plot {}", path.string()));
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) {
    std::filesystem::remove(temporary, ec);
    throw Error(fmt::format("cannot write the plot {}", path.string()));
  }
}

}  // namespace arrakis
