#pragma once
// A figure is data: a title, one typed body (what is drawn and how its axes read), annotations. It serialises to
// JSON (to_json: the same figure gives the same text on every run, so reports diff cleanly) and is drawn by a plot
// backend (plot_backend.hpp): interactive HTML on Plotly.js, static SVG/PNG, or the JSON spec alone. Nothing here
// knows how a figure is rendered.
#include <torch/types.h>

#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace arrakis {

/// How values map to colour. diverging: blue-white-red centred on 0 (signed results: attributions, patching
/// effects); sequential: white to blue from the smallest value; automatic: diverging when the values have both signs.
enum class ColourScale { automatic, sequential, diverging };

struct Axis {
  std::string title;                // what the axis shows, with its unit ("layer", "logit difference")
  std::vector<std::string> labels;  // categorical ticks (tokens, heads); empty: 0, 1, ... (repeated labels are kept)
};

/// A grid of values: layer x head, layer x position, query x key, the logit lens' layer x position table.
struct Heatmap {
  torch::Tensor values;  // [rows, cols], any real dtype; NaN cells are left empty
  Axis rows{.title = "layer"};
  Axis cols{.title = "head"};
  ColourScale colour = ColourScale::automatic;
  std::string value_title;                          // the colour bar's title: what a cell's value is
  std::vector<std::vector<std::string>> cell_text;  // empty, or [rows][cols] text written in each cell
};

/// One named sequence of points of a line, scatter or bar figure.
struct Series {
  std::string name;
  std::vector<double> y;
  std::vector<double> x;                  // empty: 0, 1, ... (the positions of the x axis' labels when it has them)
  std::vector<std::string> point_labels;  // empty, or one per point: shown on hover ("L3H2")
};

/// Lines over an ordered x axis (the logit lens' logit difference per layer); points are marked.
struct LinePlot {
  Axis x, y;
  std::vector<Series> series;
};

/// Points (head z- vs v-patching, one point per head named on hover).
struct ScatterPlot {
  Axis x, y;
  std::vector<Series> series;
  bool diagonal = false;  // draw y = x
};

/// Bars per category (direct logit attribution per component); several series are grouped side by side.
struct BarChart {
  Axis x, y;  // x.labels: the categories
  std::vector<Series> series;
};

/// The distribution of values in each group (a layer's neuron activations): violins with their box, or boxes.
struct Distribution {
  struct Group {
    std::string label;
    std::vector<double> values;
  };
  Axis x, y;
  std::vector<Group> groups;
  bool violin = true;  // false: box plots
};

/// All heads of a layer over a prompt, CircuitsVis-style (interactive HTML only): pick a head (or the mean over
/// heads), hover a token to see where it attends (blue) and what attends to it (red).
struct AttentionView {
  std::vector<std::string> tokens;
  torch::Tensor patterns;                // [heads, query, key], rows summing to 1
  std::vector<std::string> head_labels;  // empty: 0, 1, ...
};

using FigureBody = std::variant<Heatmap, LinePlot, ScatterPlot, BarChart, Distribution, AttentionView>;

/// Text placed on the figure at a data point (marks the strongest head, a layer of interest).
struct Annotation {
  double x = 0, y = 0;  // in the body's data coordinates (a label's index on a categorical axis)
  std::string text;
};

struct Figure {
  std::string title;
  FigureBody body;
  std::string caption;  // a sentence under the figure: how to read it
  std::vector<Annotation> annotations;

  /// "heatmap", "line", "scatter", "bar", "distribution", "attention_view".
  std::string type() const;
  /// The spec: {"type", "title", "caption", "annotations", and the body's fields}; tensors become nested lists,
  /// numbers are written at float precision, NaN as null. arrakis::Error naming the figure when the body is
  /// inconsistent (labels that do not match the data, a Heatmap that is not 2-D).
  nlohmann::json to_json() const;
};

}  // namespace arrakis
