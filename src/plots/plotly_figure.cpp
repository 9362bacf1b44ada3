#include "plots/plotly_figure.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "arrakis/error.hpp"
#include "plots/figure_json.hpp"

namespace arrakis {
namespace {

// Plotly draws labels and hover text as a small HTML subset: a token such as "<b>" or "<|endoftext|>" must show as
// written, so every string handed to it is escaped.
std::string plotly_text(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::vector<std::string> plotly_texts(const std::vector<std::string>& texts) {
  std::vector<std::string> out;
  out.reserve(texts.size());
  for (const auto& t : texts) out.push_back(plotly_text(t));
  return out;
}

// ColorBrewer's RdBu (negative blue, zero white, positive red) and Blues.
nlohmann::json diverging_scale() {
  static const char* colours[] = {"#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7",
                                  "#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f"};
  auto scale = nlohmann::json::array();
  for (int i = 0; i < 11; ++i) scale.push_back({i / 10.0, colours[i]});
  return scale;
}
nlohmann::json sequential_scale() {
  static const char* colours[] = {"#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6",
                                  "#4292c6", "#2171b5", "#08519c", "#08306b"};
  auto scale = nlohmann::json::array();
  for (int i = 0; i < 9; ++i) scale.push_back({i / 8.0, colours[i]});
  return scale;
}

// A categorical axis drawn as positions 0..n-1 with the labels as tick text: Plotly would merge repeated categories
// (a prompt's two "the" tokens) into one. Beyond 60 labels every k-th is shown so they stay legible. An axis of
// `cells` unlabelled rows or columns (a heatmap's) ticks whole indices only.
nlohmann::json axis_layout(const Axis& axis, int64_t cells = 0) {
  nlohmann::json layout = {{"title", {{"text", plotly_text(axis.title)}}}, {"automargin", true}};
  if (axis.labels.empty() && cells > 0) {
    layout["tickmode"] = "linear";
    layout["tick0"] = 0;
    layout["dtick"] = std::max<int64_t>(1, (cells + 29) / 30);
  }
  if (!axis.labels.empty()) {
    const std::size_t step = (axis.labels.size() + 59) / 60;
    std::vector<int64_t> at;
    std::vector<std::string> text;
    for (std::size_t i = 0; i < axis.labels.size(); i += step) {
      at.push_back(static_cast<int64_t>(i));
      text.push_back(plotly_text(axis.labels[i]));
    }
    layout["tickmode"] = "array";
    layout["tickvals"] = at;
    layout["ticktext"] = text;
  }
  return layout;
}

std::string label_at(const Axis& axis, std::size_t i) {
  return axis.labels.empty() ? std::to_string(i) : plotly_text(axis.labels[i]);
}

std::vector<double> x_of(const Series& s) {
  if (!s.x.empty()) return s.x;
  std::vector<double> x(s.y.size());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<double>(i);
  return x;
}

struct Traces {
  nlohmann::json data = nlohmann::json::array();
  nlohmann::json layout = nlohmann::json::object();
};

Traces traces(const Heatmap& h) {
  auto v = h.values.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  const int64_t rows = v.size(0), cols = v.size(1);
  const double* p = v.data_ptr<double>();
  double lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < rows * cols; ++i)
    if (std::isfinite(p[i])) lo = std::min(lo, p[i]), hi = std::max(hi, p[i]);
  const bool diverging = h.colour == ColourScale::diverging || (h.colour == ColourScale::automatic && lo < 0 && hi > 0);
  auto z = nlohmann::json::array(), custom = nlohmann::json::array();
  for (int64_t r = 0; r < rows; ++r) {
    auto row = nlohmann::json::array(), labels = nlohmann::json::array();
    for (int64_t c = 0; c < cols; ++c) {
      row.push_back(figure_number(p[r * cols + c]));
      labels.push_back({label_at(h.rows, static_cast<std::size_t>(r)), label_at(h.cols, static_cast<std::size_t>(c))});
    }
    z.push_back(std::move(row));
    custom.push_back(std::move(labels));
  }
  const std::string value_name = h.value_title.empty() ? "value" : plotly_text(h.value_title);
  nlohmann::json trace = {
      {"type", "heatmap"},
      {"z", std::move(z)},
      {"customdata", std::move(custom)},
      {"hovertemplate", fmt::format("{} %{{customdata[0]}}<br>{} %{{customdata[1]}}<br>{} %{{z:.4g}}<extra></extra>",
                                    plotly_text(h.rows.title), plotly_text(h.cols.title), value_name)},
      {"colorscale", diverging ? diverging_scale() : sequential_scale()},
      {"colorbar", {{"title", {{"text", value_name}, {"side", "right"}}}}},
      {"xgap", cols <= 64 ? 1 : 0},
      {"ygap", rows <= 64 ? 1 : 0}};
  if (diverging) {
    // Centred on 0 with a symmetric range, so white means "no effect" and equal magnitudes get equal colours.
    const double extent = std::max({std::abs(lo), std::abs(hi), 1e-12});
    trace["zmid"] = 0;
    trace["zmin"] = figure_number(lo <= hi ? -extent : -1);
    trace["zmax"] = figure_number(lo <= hi ? extent : 1);
  }
  if (!h.cell_text.empty()) {
    auto text = nlohmann::json::array();
    for (const auto& row : h.cell_text) text.push_back(plotly_texts(row));
    trace["text"] = std::move(text);
    trace["texttemplate"] = "%{text}";
    trace["textfont"] = {{"size", 10}};
  }
  Traces t;
  t.data.push_back(std::move(trace));
  auto y = axis_layout(h.rows, rows);
  y["autorange"] = "reversed";  // row 0 on top, as a matrix reads
  t.layout = {{"xaxis", axis_layout(h.cols, cols)},
              {"yaxis", std::move(y)},
              {"height", std::clamp<int64_t>(160 + 26 * rows, 320, 900)}};
  return t;
}

nlohmann::json hover_labels(const Series& s) {
  return s.point_labels.empty() ? nlohmann::json::array() : nlohmann::json(plotly_texts(s.point_labels));
}

// Hover for a series over an axis: the x label (a token, a layer), the point's own label, the value.
std::string series_hover(const Axis& x, const Axis& y, const Series& s) {
  std::string hover = s.name.empty() ? "" : "<b>" + plotly_text(s.name) + "</b><br>";
  if (!s.point_labels.empty()) hover += "%{hovertext}<br>";
  hover += x.labels.empty() ? plotly_text(x.title) + " %{x:.4g}" : plotly_text(x.title) + " %{customdata}";
  return hover + "<br>" + plotly_text(y.title) + " %{y:.4g}<extra></extra>";
}

nlohmann::json xy_trace(const Axis& x, const Axis& y, const Series& s, const char* type) {
  const auto xs = x_of(s);
  nlohmann::json trace = {{"type", type},
                          {"name", plotly_text(s.name)},
                          {"x", figure_numbers(xs)},
                          {"y", figure_numbers(s.y)},
                          {"hovertemplate", series_hover(x, y, s)}};
  if (!s.point_labels.empty()) trace["hovertext"] = hover_labels(s);
  if (!x.labels.empty()) {
    auto at = nlohmann::json::array();
    for (double v : xs) {
      const auto i = static_cast<std::size_t>(std::llround(v));
      at.push_back(v >= 0 && i < x.labels.size() ? plotly_text(x.labels[i]) : fmt::format("{}", v));
    }
    trace["customdata"] = std::move(at);
  }
  return trace;
}

Traces xy_layout(const Axis& x, const Axis& y, std::size_t series) {
  Traces t;
  t.layout = {{"xaxis", axis_layout(x)}, {"yaxis", axis_layout(y)}, {"showlegend", series > 1}, {"height", 440}};
  return t;
}

Traces traces(const LinePlot& p) {
  auto t = xy_layout(p.x, p.y, p.series.size());
  for (const auto& s : p.series) {
    auto trace = xy_trace(p.x, p.y, s, "scatter");
    trace["mode"] = "lines+markers";
    t.data.push_back(std::move(trace));
  }
  return t;
}

Traces traces(const ScatterPlot& p) {
  auto t = xy_layout(p.x, p.y, p.series.size());
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& s : p.series) {
    auto trace = xy_trace(p.x, p.y, s, "scatter");
    trace["mode"] = "markers";
    trace["marker"] = {{"size", 8}, {"opacity", 0.85}};
    t.data.push_back(std::move(trace));
    for (double v : x_of(s))
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    for (double v : s.y)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  if (p.diagonal && lo <= hi)
    t.layout["shapes"] = {{{"type", "line"},
                           {"xref", "x"},
                           {"yref", "y"},
                           {"x0", figure_number(lo)},
                           {"y0", figure_number(lo)},
                           {"x1", figure_number(hi)},
                           {"y1", figure_number(hi)},
                           {"line", {{"dash", "dot"}, {"color", "#888"}, {"width", 1}}}}};
  return t;
}

Traces traces(const BarChart& p) {
  auto t = xy_layout(p.x, p.y, p.series.size());
  t.layout["barmode"] = "group";
  for (const auto& s : p.series) t.data.push_back(xy_trace(p.x, p.y, s, "bar"));
  return t;
}

Traces traces(const Distribution& d) {
  Traces t;
  t.layout = {{"xaxis", axis_layout(d.x)}, {"yaxis", axis_layout(d.y)}, {"showlegend", false}, {"height", 440}};
  t.layout["xaxis"].erase("tickmode");  // the groups are the categories
  for (const auto& g : d.groups) {
    nlohmann::json trace = {{"type", d.violin ? "violin" : "box"},
                            {"name", plotly_text(g.label)},
                            {"y", figure_numbers(g.values)},
                            {"boxpoints", false}};
    if (d.violin) {
      trace.erase("boxpoints");
      trace["points"] = false;
      trace["box"] = {{"visible", true}};
      trace["meanline"] = {{"visible", true}};
    }
    t.data.push_back(std::move(trace));
  }
  return t;
}

Traces traces(const AttentionView&) {
  throw Error("an attention view is drawn by the page's own script, not by Plotly: it has no Plotly figure");
}

}  // namespace

nlohmann::json plotly_figure(const Figure& figure) {
  figure.to_json();  // checks the body (labels against data) with the spec's own error messages
  auto t = std::visit([](const auto& body) { return traces(body); }, figure.body);
  t.layout["title"] = {{"text", plotly_text(figure.title)}, {"x", 0.02}};
  t.layout["margin"] = {{"t", 56}, {"r", 24}};
  t.layout["font"] = {{"family", "sans-serif"}};
  if (!figure.annotations.empty()) {
    auto notes = nlohmann::json::array();
    for (const auto& a : figure.annotations)
      notes.push_back({{"x", figure_number(a.x)},
                       {"y", figure_number(a.y)},
                       {"text", plotly_text(a.text)},
                       {"showarrow", true},
                       {"arrowhead", 2}});
    t.layout["annotations"] = std::move(notes);
  }
  return {{"data", std::move(t.data)}, {"layout", std::move(t.layout)}};
}

}  // namespace arrakis
