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
  const element = (tag, className, text) => {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  // CircuitsVis-style: choose a head (or their mean); hover a token to colour where it attends (blue, earlier
  // tokens) and what attends to it (red, later tokens); each token's title holds the exact weight.
  const attentionView = (div, view) => {
    const n = view.tokens.length;
    const mean = view.patterns[0].map((row, q) =>
      row.map((_, k) => view.patterns.reduce((s, p) => s + (p[q][k] || 0), 0) / view.patterns.length));
    const heads = view.head_labels.map((label, i) => ({ label: "head " + label, pattern: view.patterns[i] }));
    heads.push({ label: "mean of heads", pattern: mean });
    let head = 0, current = n - 1;
    div.classList.add("attention-view");
    const bar = element("div", "heads");
    const buttons = heads.map((h, i) => {
      const b = element("button", "head", h.label);
      b.addEventListener("click", () => { head = i; paint(); });
      bar.appendChild(b);
      return b;
    });
    div.appendChild(bar);
    const row = (caption) => {
      div.appendChild(element("div", "caption", caption));
      const line = element("div", "tokens");
      const spans = view.tokens.map((t, i) => {
        const s = element("span", "token", t);
        s.addEventListener("mouseenter", () => { current = i; paint(); });
        line.appendChild(s);
        return s;
      });
      div.appendChild(line);
      return spans;
    };
    const to = row("where the hovered token attends (blue)");
    const from = row("what attends to the hovered token (red)");
    const paint = () => {
      const p = heads[head].pattern;
      buttons.forEach((b, i) => b.classList.toggle("selected", i === head));
      for (let j = 0; j < n; ++j) {
        const a = j <= current ? (p[current][j] || 0) : 0, b = j >= current ? (p[j][current] || 0) : 0;
        to[j].style.background = "rgba(33, 102, 172, " + a + ")";
        to[j].style.color = a > 0.6 ? "#fff" : "";
        to[j].title = view.tokens[current] + " -> " + view.tokens[j] + ": " + a.toFixed(4);
        from[j].style.background = "rgba(178, 24, 43, " + b + ")";
        from[j].style.color = b > 0.6 ? "#fff" : "";
        from[j].title = view.tokens[j] + " -> " + view.tokens[current] + ": " + b.toFixed(4);
        to[j].classList.toggle("hovered", j === current);
        from[j].classList.toggle("hovered", j === current);
      }
    };
    paint();
    return Promise.resolve(div);
  };
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
      tokens: count(div, ".attention-view .token"),
      head_buttons: count(div, ".attention-view button.head"),
    };
  };
  const report = { errors: errors, figures: [] };
  const done = () => {
    document.getElementById("arrakis-render-report").textContent = JSON.stringify(report);
  };
  const plots = figures.map((f, i) => {
    const div = document.querySelector("#figure-" + (i + 1) + " .plot");
    const layout = Object.assign({}, f.layout, request ? { width: request.width, height: request.height } : {});
    return f.view ? attentionView(div, f.view) : Plotly.newPlot(div, f.data, layout, config);
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
  // What the page's script draws: Plotly's figure, or for an attention view the view's own spec.
  auto specs = nlohmann::json::array();
  for (const auto& f : figures) {
    auto drawn =
        std::holds_alternative<AttentionView>(f.body) ? nlohmann::json{{"view", f.to_json()}} : plotly_figure(f);
    drawn["type"] = f.type();
    specs.push_back(std::move(drawn));
  }
  std::string html = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"generator\" content=\"Arrakis {}; figures drawn with {} (MIT licence)\">\n<title>{}</title>\n"
      "<style>\nbody {{ font-family: sans-serif; margin: 24px auto; max-width: 1100px; color: #222; }}\n"
      "figure {{ margin: 0 0 36px; }} figcaption {{ color: #555; font-size: 14px; margin-top: 4px; }}\n"
      ".attention-view .tokens {{ font-family: monospace; line-height: 2; margin: 4px 0 12px; }}\n"
      ".attention-view .token {{ white-space: pre; padding: 2px 1px; border: 1px solid #ddd; cursor: default; }}\n"
      ".attention-view .token.hovered {{ outline: 2px solid #222; }}\n"
      ".attention-view .caption {{ color: #555; font-size: 13px; }}\n"
      ".attention-view button.head {{ margin: 0 4px 8px 0; }} .attention-view button.selected {{ font-weight: bold; "
      "}}\n"
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
