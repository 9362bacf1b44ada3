#pragma once
// Plotly.js, compiled into the library from the npm package (package.json pins it; scripts/setup.sh installs it), so
// every page inlines it and opens offline.
#include <string_view>

namespace arrakis {

/// The minified library's text.
std::string_view plotly_js();
/// "plotly.js-cartesian-dist-min 4.1.1".
std::string_view plotly_package();

}  // namespace arrakis
