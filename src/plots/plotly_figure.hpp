#pragma once
// A figure spec translated into Plotly.js' {"data": [...traces], "layout": {...}}.
#include <nlohmann/json.hpp>

#include "arrakis/plots/figure.hpp"

namespace arrakis {

/// arrakis::Error naming the figure when its body is inconsistent (the checks of Figure::to_json).
nlohmann::json plotly_figure(const Figure& figure);

}  // namespace arrakis
