#pragma once
// Heatmaps as self-contained HTML: inline SVG, no script, no external stylesheet or font, so a file opens offline
// in any browser (and in an SVG/XML tool). Each cell carries a hover title with its row, column and value; axes
// are labelled and a colour bar gives the scale. For [layer, head] and [layer, position] results.
#include <torch/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace arrakis {

struct Heatmap {
  std::string title;
  torch::Tensor values;                 // [rows, cols], any floating or integer dtype; NaN cells are drawn grey
  std::vector<std::string> row_labels;  // empty: 0, 1, ...
  std::vector<std::string> col_labels;  // empty: 0, 1, ...
  std::string row_axis = "layer";
  std::string col_axis = "head";
  /// Diverging blue-white-red centred on 0 (for signed results such as logit attributions); default: diverging when
  /// the values have both signs, else white to blue.
  std::optional<bool> diverging;
};

/// One heatmap as an <svg> element (valid XML; labels and titles escaped).
std::string heatmap_svg(const Heatmap& heatmap);
/// An HTML page holding the heatmaps one after the other. Written to a temporary file and renamed, so a failure
/// never leaves half a page; arrakis::Error naming the file when it cannot be written.
void write_heatmaps_html(const std::filesystem::path& path, const std::string& page_title,
                         const std::vector<Heatmap>& heatmaps);

/// Text made safe inside XML/HTML text and attribute values.
std::string escape_xml(std::string_view text);

}  // namespace arrakis
