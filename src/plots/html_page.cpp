#include "plots/html_page.hpp"

#include <fmt/format.h>

#include "plots/plotly_figure.hpp"
#include "plots/plotly_library.hpp"

namespace arrakis {
namespace {

std::string escape_html(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// JSON inside <script>: "<" written as \u003c so that no string (a token "</script>") can end the element.
std::string script_json(const nlohmann::json& json) {
  const auto text = json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size());
  for (char c : text) out += c == '<' ? std::string("\\u003c") : std::string(1, c);
  return out;
}

// Draws every figure, then writes what was drawn into #arrakis-render-report: per figure its type and marks
// (heatmap cells, points, lines, bars, violins, boxes) and any JavaScript error. The browser test reads it, and the
// static export (data-export on <body>) puts Plotly's own image of the first figure into #arrakis-export.
constexpr const char* kRenderScript = R"JS(
(function () {
  const errors = [];
  window.addEventListener("error", (e) => errors.push(String(e.message)));
  const figures = JSON.parse(document.getElementById("arrakis-figures").textContent);
  const request = document.body.dataset.export ? JSON.parse(document.body.dataset.export) : null;
  const config = { displaylogo: false, responsive: !request, scrollZoom: false };
  const count = (div, selector) => div.querySelectorAll(selector).length;
  const marks = (div) => {
    let cells = 0;
    for (const trace of div.calcdata || [])
      for (const row of (trace[0] && trace[0].trace.type === "heatmap" ? trace[0].z : []))
        cells += row.filter((v) => v !== null && v !== undefined && !Number.isNaN(v)).length;
    return {
      cells: cells,
      heatmap_images: count(div, ".hm image"),
      points: count(div, ".scatterlayer .points path"),
      lines: count(div, ".scatterlayer .js-line"),
      bars: count(div, ".barlayer .point"),
      violins: count(div, ".violinlayer path.violin"),
      boxes: count(div, ".boxlayer path.box") + count(div, ".violinlayer path.box"),
      annotations: count(div, ".annotation"),
    };
  };
  const report = { errors: errors, figures: [] };
  const done = () => {
    document.getElementById("arrakis-render-report").textContent = JSON.stringify(report);
  };
  const plots = figures.map((f, i) => {
    const div = document.querySelector("#figure-" + (i + 1) + " .plot");
    const layout = Object.assign({}, f.layout, request ? { width: request.width, height: request.height } : {});
    return Plotly.newPlot(div, f.data, layout, config);
  });
  Promise.all(plots)
    .then((divs) => {
      divs.forEach((div, i) => report.figures.push(Object.assign({ type: figures[i].type }, marks(div))));
      if (!request) return;
      return Plotly.toImage(divs[0], { format: request.format, width: request.width, height: request.height })
        .then((url) => { document.getElementById("arrakis-export").textContent = url; });
    })
    .catch((e) => errors.push(String(e && e.stack ? e.stack : e)))
    .then(done);
})();
)JS";

}  // namespace

std::string html_page(const std::vector<Figure>& figures, const std::string& page_title, const ExportRequest* request) {
  auto specs = nlohmann::json::array();
  for (const auto& f : figures) {
    auto plotly = plotly_figure(f);
    plotly["type"] = f.type();
    specs.push_back(std::move(plotly));
  }
  std::string html = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"generator\" content=\"Arrakis {}; figures drawn with {} (MIT licence)\">\n<title>{}</title>\n"
      "<style>\nbody {{ font-family: sans-serif; margin: 24px auto; max-width: 1100px; color: #222; }}\n"
      "figure {{ margin: 0 0 36px; }} figcaption {{ color: #555; font-size: 14px; margin-top: 4px; }}\n"
      "</style>\n<script>\n",
      ARRAKIS_VERSION, plotly_package(), escape_html(page_title));
  html += plotly_js();
  html += "\n</script>\n</head>\n";
  html += request ? fmt::format("<body data-export=\"{}\">\n",
                                escape_html(nlohmann::json{
                                    {"format", request->format}, {"width", request->width}, {"height", request->height}}
                                                .dump()))
                  : std::string("<body>\n");
  if (!page_title.empty()) html += fmt::format("<h1>{}</h1>\n", escape_html(page_title));
  for (std::size_t i = 0; i < figures.size(); ++i) {
    html +=
        fmt::format("<figure class=\"arrakis-figure\" id=\"figure-{}\" data-type=\"{}\">\n", i + 1, figures[i].type());
    html += "<div class=\"plot\"></div>\n";
    if (!figures[i].caption.empty())
      html += fmt::format("<figcaption>{}</figcaption>\n", escape_html(figures[i].caption));
    html += "</figure>\n";
  }
  html += "<pre id=\"arrakis-render-report\" hidden></pre>\n";
  if (request) html += "<pre id=\"arrakis-export\" hidden></pre>\n";
  html += "<script type=\"application/json\" id=\"arrakis-figures\">" + script_json(specs) + "</script>\n";
  html += "<script>" + std::string(kRenderScript) + "</script>\n</body>\n</html>\n";
  return html;
}

}  // namespace arrakis
