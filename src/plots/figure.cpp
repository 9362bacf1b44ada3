#include "arrakis/plots/figure.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>

#include "arrakis/error.hpp"
#include "plots/figure_json.hpp"

namespace arrakis {

// Float precision, shortest form: 0.1f is written 0.1, not 0.10000000149011612, so specs stay small and stable.
nlohmann::json figure_number(double value) {
  if (!std::isfinite(value)) return nullptr;
  return std::strtod(fmt::format("{}", static_cast<float>(value)).c_str(), nullptr);
}

nlohmann::json figure_numbers(const std::vector<double>& values) {
  auto out = nlohmann::json::array();
  for (double v : values) out.push_back(figure_number(v));
  return out;
}

namespace {

nlohmann::json matrix_json(const torch::Tensor& values) {
  auto v = values.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  const double* p = v.data_ptr<double>();
  auto rows = nlohmann::json::array();
  for (int64_t r = 0; r < v.size(0); ++r) {
    auto row = nlohmann::json::array();
    for (int64_t c = 0; c < v.size(1); ++c) row.push_back(figure_number(p[r * v.size(1) + c]));
    rows.push_back(std::move(row));
  }
  return rows;
}

nlohmann::json axis_json(const Axis& axis) { return {{"title", axis.title}, {"labels", axis.labels}}; }

std::string colour_name(ColourScale scale) {
  switch (scale) {
    case ColourScale::sequential: return "sequential";
    case ColourScale::diverging: return "diverging";
    case ColourScale::automatic: break;
  }
  return "automatic";
}

// `what`: "row" or "column".
void check_labels(const Figure& figure, const Axis& axis, std::size_t count, const char* what) {
  if (!axis.labels.empty() && axis.labels.size() != count)
    throw Error(
        fmt::format("figure '{}': {} {} labels for {} {}s", figure.title, axis.labels.size(), what, count, what));
}

nlohmann::json body_json(const Figure& figure, const Heatmap& h) {
  if (!h.values.defined() || h.values.dim() != 2)
    throw Error(fmt::format("figure '{}': a heatmap's values must be a [rows, cols] tensor", figure.title));
  if (h.values.is_complex()) throw Error(fmt::format("figure '{}': a heatmap's values must be real", figure.title));
  const auto rows = static_cast<std::size_t>(h.values.size(0)), cols = static_cast<std::size_t>(h.values.size(1));
  check_labels(figure, h.rows, rows, "row");
  check_labels(figure, h.cols, cols, "column");
  if (!h.cell_text.empty()) {
    bool fits = h.cell_text.size() == rows;
    for (const auto& row : h.cell_text) fits = fits && row.size() == cols;
    if (!fits) throw Error(fmt::format("figure '{}': cell_text must be [{}][{}]", figure.title, rows, cols));
  }
  return {{"rows", axis_json(h.rows)},    {"cols", axis_json(h.cols)},       {"colour", colour_name(h.colour)},
          {"value_title", h.value_title}, {"values", matrix_json(h.values)}, {"cell_text", h.cell_text}};
}

nlohmann::json series_json(const Figure& figure, const std::vector<Series>& series, const Axis& x) {
  auto out = nlohmann::json::array();
  for (const auto& s : series) {
    if (!s.x.empty() && s.x.size() != s.y.size())
      throw Error(fmt::format("figure '{}', series '{}': {} x values for {} y values", figure.title, s.name, s.x.size(),
                              s.y.size()));
    if (!s.point_labels.empty() && s.point_labels.size() != s.y.size())
      throw Error(fmt::format("figure '{}', series '{}': {} point labels for {} points", figure.title, s.name,
                              s.point_labels.size(), s.y.size()));
    if (s.x.empty() && !x.labels.empty() && x.labels.size() != s.y.size())
      throw Error(fmt::format("figure '{}', series '{}': {} points for the x axis' {} labels", figure.title, s.name,
                              s.y.size(), x.labels.size()));
    out.push_back(
        {{"name", s.name}, {"x", figure_numbers(s.x)}, {"y", figure_numbers(s.y)}, {"point_labels", s.point_labels}});
  }
  return out;
}

nlohmann::json body_json(const Figure& f, const LinePlot& p) {
  return {{"x", axis_json(p.x)}, {"y", axis_json(p.y)}, {"series", series_json(f, p.series, p.x)}};
}
nlohmann::json body_json(const Figure& f, const ScatterPlot& p) {
  return {{"x", axis_json(p.x)},
          {"y", axis_json(p.y)},
          {"series", series_json(f, p.series, p.x)},
          {"diagonal", p.diagonal}};
}
nlohmann::json body_json(const Figure& f, const BarChart& p) {
  return {{"x", axis_json(p.x)}, {"y", axis_json(p.y)}, {"series", series_json(f, p.series, p.x)}};
}
nlohmann::json body_json(const Figure&, const Distribution& d) {
  auto groups = nlohmann::json::array();
  for (const auto& g : d.groups) groups.push_back({{"label", g.label}, {"values", figure_numbers(g.values)}});
  return {{"x", axis_json(d.x)}, {"y", axis_json(d.y)}, {"groups", groups}, {"violin", d.violin}};
}

nlohmann::json body_json(const Figure& figure, const AttentionView& v) {
  if (!v.patterns.defined() || v.patterns.dim() != 3 || v.patterns.size(1) != v.patterns.size(2))
    throw Error(
        fmt::format("figure '{}': an attention view's patterns must be [heads, query, key] with as many "
                    "queries as keys",
                    figure.title));
  const auto heads = static_cast<std::size_t>(v.patterns.size(0)),
             positions = static_cast<std::size_t>(v.patterns.size(1));
  if (v.tokens.size() != positions)
    throw Error(fmt::format("figure '{}': {} tokens for {} positions", figure.title, v.tokens.size(), positions));
  if (!v.head_labels.empty() && v.head_labels.size() != heads)
    throw Error(fmt::format("figure '{}': {} head labels for {} heads", figure.title, v.head_labels.size(), heads));
  auto patterns = nlohmann::json::array();
  for (int64_t h = 0; h < v.patterns.size(0); ++h) patterns.push_back(matrix_json(v.patterns[h]));
  auto labels = v.head_labels;
  if (labels.empty())
    for (std::size_t h = 0; h < heads; ++h) labels.push_back(std::to_string(h));
  return {{"tokens", v.tokens}, {"head_labels", labels}, {"patterns", std::move(patterns)}};
}

}  // namespace

std::string Figure::type() const {
  struct Name {
    const char* operator()(const Heatmap&) const { return "heatmap"; }
    const char* operator()(const LinePlot&) const { return "line"; }
    const char* operator()(const ScatterPlot&) const { return "scatter"; }
    const char* operator()(const BarChart&) const { return "bar"; }
    const char* operator()(const Distribution&) const { return "distribution"; }
    const char* operator()(const AttentionView&) const { return "attention_view"; }
  };
  return std::visit(Name{}, body);
}

nlohmann::json Figure::to_json() const {
  nlohmann::json json = {{"type", type()}, {"title", title}, {"caption", caption}};
  auto notes = nlohmann::json::array();
  for (const auto& a : annotations)
    notes.push_back({{"x", figure_number(a.x)}, {"y", figure_number(a.y)}, {"text", a.text}});
  json["annotations"] = std::move(notes);
  json.update(std::visit([&](const auto& b) { return body_json(*this, b); }, body));
  return json;
}

}  // namespace arrakis
